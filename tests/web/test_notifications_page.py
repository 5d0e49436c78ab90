"""The notifications page: each user sees and changes their own mail preferences, as the API does."""

from tests.support.browser import WebClient


def test_a_planner_changes_their_mail_preferences_on_the_page(api, world, as_user):
    client = as_user("planner")
    page = client.get("/notifications").get_data(as_text=True)
    assert "Email notifications" in page and 'value="followup.missed" checked' in page
    assert "offer.created" not in page  # not a planner's event
    assert 'href="/notifications"' in page  # the link in the page header

    response = client.post("/notifications", {"email": "on", "events": ["offer.declined"], "digest": "on"})
    assert response.status_code == 302
    saved = api.get("/api/v1/me/notifications", token=world.tokens["planner"]).json
    assert saved["events"] == ["offer.declined"] and saved["digest"] is True and saved["email"] is True

    client.post("/notifications", {})  # every box cleared: email off
    saved = api.get("/api/v1/me/notifications", token=world.tokens["planner"]).json
    assert saved["email"] is False and saved["events"] == []


def test_the_page_needs_a_signed_in_user(app):
    response = WebClient(app).get("/notifications")
    assert response.status_code in (302, 303) and "sign-in" in response.headers["Location"]


def test_the_referral_page_says_whether_and_when_the_coordinators_were_emailed(app, api, world, clock, as_user):
    from tests.support.offers import Scene
    from tests.support.smtp import SmtpServer
    from transitions import scheduler

    server = SmtpServer().start()
    app.config["SMTP_URL"] = server.url
    try:
        scene = Scene(api, world, app, clock)
        referral = scene.referral()
        scene.offered(referral, scene.track())
        client = as_user("planner")
        page = client.get("/referrals/%s" % referral["id"]).get_data(as_text=True)
        assert "Coordinators not emailed yet" in page
        scheduler.bind_app(app)
        scheduler.run_job("send-mail", clock.now)
        page = client.get("/referrals/%s" % referral["id"]).get_data(as_text=True)
        assert "Coordinators emailed" in page and "not emailed yet" not in page
    finally:
        server.stop()
