"""The programs page for imported programs: the unconfirmed badge, the admin's hand-over form, and the one-click
"seats still right" that dates a track's seat count (stale ones flagged)."""

from datetime import timedelta

from sqlalchemy import select

from tests.api.test_directory_import import imported, line, run_import, write
from tests.support import payloads
from tests.support.browser import WebClient
from transitions.core.db import db
from transitions.directory.models import Track


def test_admin_sees_unconfirmed_and_hands_it_to_a_provider(app, world, as_user, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    program = imported(app, "Lakeview Recovery")
    admin = as_user("admin")
    page = admin.get("/programs?name=lakeview").get_data(as_text=True)
    assert "Lakeview Recovery" in page and "Find a program by name" in page
    assert admin.get("/programs?name=nothing_like_it%25").get_data(as_text=True).count("Lakeview Recovery") == 0
    assert "Unconfirmed" in page and "Hand to provider" in page and "Add track" not in page
    response = admin.post("/programs/%s/claim" % program.id, {"organization_id": world.orgs["provider"]})
    assert response.status_code == 302
    assert imported(app, "Lakeview Recovery").organization_id == world.orgs["provider"]
    page = as_user("coordinator").get("/programs").get_data(as_text=True)
    assert "Lakeview Recovery" in page and "Unconfirmed" in page and "Publish a track" in page and "Add track" in page


def test_a_coordinator_cannot_hand_over_a_program(app, world, as_user, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    program = imported(app, "Lakeview Recovery")
    response = as_user("coordinator").post(
        "/programs/%s/claim" % program.id, {"organization_id": world.orgs["provider"]}
    )
    assert response.status_code == 403
    assert imported(app, "Lakeview Recovery").organization_id == program.organization_id


def test_seats_still_right_dates_the_track_and_clears_the_stale_flag(app, api, world, as_user, emails, clock):
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"]).json
    track = api.post("/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=world.tokens["coordinator"])
    track_id = track.json["id"]
    coordinator = as_user("coordinator")
    assert "Seats not confirmed" not in coordinator.get("/programs").get_data(as_text=True)
    clock.set((clock.now + timedelta(days=15)).isoformat())
    coordinator = WebClient(app)  # signed in again: a web session does not last 15 days
    assert coordinator.sign_in(emails["coordinator"]).status_code == 302
    assert "Seats not confirmed for 14+ days" in coordinator.get("/programs").get_data(as_text=True)
    assert coordinator.post("/tracks/%s/seats-confirmed" % track_id).status_code == 302
    with app.app_context():
        confirmed = db.session.scalar(select(Track.seats_confirmed_at).where(Track.id == track_id))
    assert confirmed == clock.now
    assert "Seats not confirmed" not in coordinator.get("/programs").get_data(as_text=True)
    other = as_user("coordinator2").post("/tracks/%s/seats-confirmed" % track_id)
    assert other.status_code == 403


def test_a_capacity_edit_confirms_the_seats(app, api, world, clock):
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"]).json
    track = api.post("/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=world.tokens["coordinator"])
    clock.set((clock.now + timedelta(days=20)).isoformat())
    api.patch("/api/v1/tracks/%s" % track.json["id"], {"capacity": 9}, token=world.tokens["coordinator"])
    with app.app_context():
        assert db.session.get(Track, track.json["id"]).seats_confirmed_at == clock.now


def test_the_edit_page_says_an_edited_field_is_theirs(app, world, as_user, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    program = imported(app, "Lakeview Recovery")
    page = as_user("admin").get("/programs/%s/edit" % program.id).get_data(as_text=True)
    assert "Unconfirmed" in page and "later imports leave it as you set it" in page
