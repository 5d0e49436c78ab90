"""Sign-in's `next`: only same-site paths, read the way a browser reads them (tab/CR/LF dropped, ends trimmed)."""

from urllib.parse import quote

import pytest

DISGUISED_OFF_SITE = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "//evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", DISGUISED_OFF_SITE)
def test_a_signed_in_user_is_never_sent_off_site(web, emails, target):
    web.sign_in(emails["planner"])
    response = web.client.get("/sign-in?next=" + quote(target, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", DISGUISED_OFF_SITE)
def test_signing_in_never_sends_off_site(web, emails, target):
    response = web.sign_in(emails["planner"], next_page=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/x\r\nSet-Cookie: a=b", "/referrals\r\n", "\r\n/referrals"])
def test_line_breaks_in_next_never_reach_a_header(web, emails, target):
    response = web.sign_in(emails["planner"], next_page=target)
    assert response.status_code == 302
    assert "\n" not in response.headers["Location"] and "\r" not in response.headers["Location"]
    assert "Set-Cookie: a" not in str(response.headers)


def test_a_same_site_path_with_its_query_is_kept(web, emails):
    response = web.sign_in(emails["planner"], next_page="/referrals?status=submitted")
    assert response.headers["Location"] == "/referrals?status=submitted"
