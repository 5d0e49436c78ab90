"""The roster never offers attendance for a session still ahead in the track's zone: it lists who is expected and
says why there are no buttons; a form posted for such a day anyway gets a notice on the roster, not an error page."""

import re

import pytest
from sqlalchemy import func, select

from tests.support.offers import Scene
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.offers.models import Attendance


@pytest.fixture
def placed(api, world, app, clock):
    """Maria Lopez placed on the Chicago evening track (Mon, Wed, Thu), intake Thursday Dec 3; today is Tue Dec 1."""
    scene = Scene(api, world, app, clock)
    referral = scene.referral(patient={"given_name": "Maria", "family_name": "Lopez"})
    _, placement = scene.placed(referral, scene.track())
    assert placement["intake_date"] == "2026-12-03"
    return placement


def page(response):
    assert response.status_code == 200
    return response.get_data(as_text=True)


def attendance_buttons(html):
    return re.findall(r'name="status" value="(\w+)"', html)


def test_a_day_ahead_lists_who_is_expected_without_attendance_buttons(app, as_user, placed, clock):
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**6, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**6)  # the clock moves days
    coordinator = as_user("coordinator")
    html = page(coordinator.get("/roster?date=2026-12-03"))
    assert "Maria Lopez" in html and "First day" in html
    assert attendance_buttons(html) == []
    assert "This session is still ahead" in html and "Attendance can be recorded from that day on." in html
    # 21:00 on Wednesday in Chicago is already Thursday in UTC: the track's zone decides, so still no buttons.
    clock.set("2026-12-03T03:00:00Z")
    assert attendance_buttons(page(coordinator.get("/roster?date=2026-12-03"))) == []
    # Thursday in Chicago: the session's day has come.
    clock.set("2026-12-03T14:00:00Z")
    html = page(coordinator.get("/roster?date=2026-12-03"))
    assert attendance_buttons(html) == ["attended", "missed", "excused"]
    assert "still ahead" not in html
    assert attendance_buttons(page(coordinator.get("/roster"))) == ["attended", "missed", "excused"]


def test_attendance_posted_for_a_day_ahead_is_a_notice_on_the_roster_and_changes_nothing(app, as_user, placed):
    coordinator = as_user("coordinator")
    response = coordinator.post(
        "/roster/attendance",
        {"placement_id": placed["id"], "date": "2026-12-07", "status": "attended", "back_date": "2026-12-07"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/roster?date=2026-12-07"
    html = page(coordinator.get(response.headers["Location"]))
    assert 'class="notice notice-warning"' in html
    assert "Attendance was not recorded: Attendance cannot be recorded ahead of the session" in html
    assert "Something went wrong" not in html and "Error 422" not in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0
        outcomes = db.session.scalars(
            select(AuditRecord.outcome).where(AuditRecord.action == "placement.attendance")
        ).all()
    assert outcomes and "allowed" not in outcomes
    # The notice is shown once.
    assert "Attendance was not recorded" not in page(coordinator.get("/roster?date=2026-12-07"))


def test_another_providers_placement_is_still_a_404_page(as_user, placed):
    response = as_user("coordinator2").post(
        "/roster/attendance", {"placement_id": placed["id"], "date": "2026-12-03", "status": "attended"}
    )
    assert response.status_code == 404
