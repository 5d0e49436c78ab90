"""Signing out says so on the page it lands on, and every page has an icon, so no browser request ends in a 404."""

import re


def html(response):
    return response.get_data(as_text=True)


def test_sign_out_lands_on_sign_in_saying_you_have_signed_out(web, emails):
    web.sign_in(emails["coordinator"])
    response = web.post("/sign-out")
    assert response.status_code == 302
    page = html(web.get(response.headers["Location"]))
    assert re.search(r'<div class="notice notice-info" role="status">You have signed out\.</div>', page)
    # Said once: the sign-in page reached any other way does not claim it.
    assert "You have signed out." not in html(web.get("/sign-in"))
    # The session is gone: the pages ask to sign in again, with no notice about a sign-out the user did not make.
    assert web.get("/offers").headers["Location"].startswith("/sign-in?next=")


def test_every_page_links_an_icon_the_app_serves(web, emails):
    sign_in_page = html(web.get("/sign-in"))
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', sign_in_page).group(1)
    served = web.get(icon)
    assert served.status_code == 200 and served.mimetype == "image/svg+xml"
    assert served.get_data(as_text=True).startswith("<svg") and len(served.get_data()) < 2048
    web.sign_in(emails["planner"])
    assert '<link rel="icon" href="%s"' % icon in html(web.get("/referrals"))


def test_favicon_ico_points_at_the_icon_without_a_session(web):
    response = web.get("/favicon.ico")
    assert response.status_code == 301 and response.headers["Location"] == "/static/favicon.svg"
    assert web.get("/static/favicon.svg").status_code == 200
