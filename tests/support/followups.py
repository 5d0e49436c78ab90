"""Hand-built timelines for follow-up, dashboard and webhook tests: facts written into the tables by factories."""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from tests.support import payloads
from tests.support.factories import (
    AttendanceFactory,
    OfferFactory,
    OrganizationFactory,
    PlacementFactory,
    ReadmissionFactory,
    ReferralFactory,
    UserFactory,
)
from transitions import scheduler
from transitions.core.db import db
from transitions.followups.models import FollowUp
from transitions.notify.models import Event
from transitions.offers.models import Placement

DISCHARGE = date(2026, 12, 3)


def day(n, discharge=DISCHARGE):
    return discharge + timedelta(days=n)


def at(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def submit(api, world, token="planner", **overrides):
    """A referral through the API (so its plan is written the real way); returns its id."""
    body = payloads.referral(**overrides)
    response = api.post("/api/v1/referrals", body, token=world.tokens[token])
    assert response.status_code == 201, response.json
    return response.json["id"]


def person(index):
    return {"given_name": "Person%d" % index, "family_name": "Tester"}


def sud(**overrides):
    values = {"need": "substance_use", "diagnoses": ["F10.20"], "part2_consent": {"signed_on": "2026-11-20"}}
    values.update(overrides)
    return values


def program_and_track(api, world, token="coordinator"):
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens[token])
    assert program.status_code == 201, program.json
    track = api.post("/api/v1/programs/%s/tracks" % program.json["id"], payloads.track(), token=world.tokens[token])
    assert track.status_code == 201, track.json
    return program.json["id"], track.json["id"]


def offer(
    app,
    referral_id,
    program_id,
    track_id,
    status="accepted",
    intake_date=None,
    decided_at=None,
    decline_reason=None,
    expires_at="2027-01-01T00:00:00Z",
):
    """An offer row; an accepted one with an intake date also gets its placement. Returns (offer_id, placement_id)."""
    with app.app_context():
        row = OfferFactory(
            referral_id=referral_id,
            track_id=track_id,
            program_id=program_id,
            status=status,
            expires_at=at(expires_at),
            intake_date=intake_date,
            decided_at=decided_at,
            decline_reason=decline_reason,
        )
        placement_id = None
        if status == "accepted" and intake_date is not None:
            placement_id = PlacementFactory(offer=row).id
        db.session.commit()
        return row.id, placement_id


def attend(app, placement_id, *days, status="attended", discharge=DISCHARGE):
    with app.app_context():
        for n in days:
            AttendanceFactory(placement_id=placement_id, session_date=day(n, discharge), status=status)
        db.session.commit()


def readmit(app, referral_id, n, discharge=DISCHARGE):
    with app.app_context():
        classification = "transfer" if n <= 2 else "readmission_30" if n <= 30 else "later"
        row = ReadmissionFactory(referral_id=referral_id, admitted_on=day(n, discharge), classification=classification)
        db.session.commit()
        return row.id


def end_placement(app, placement_id, outcome, n, discharge=DISCHARGE):
    with app.app_context():
        placement = db.session.get(Placement, placement_id)
        placement.status, placement.outcome = "discharged", outcome
        placement.discharged_at = datetime.combine(day(n, discharge), time(18), tzinfo=UTC)
        db.session.commit()


def sweep(app, iso):
    """One follow-up sweep as of a time (outside any open transaction: SQLite would make it wait)."""
    scheduler.bind_app(app)
    return scheduler.run_job("sweep-followups", at(iso))


def run_pass(app, iso):
    return dict(scheduler.run_pass(app, at(iso)))


def checks(app, referral_id):
    """check -> (due_date, outcome, evidence) of one referral."""
    with app.app_context():
        rows = db.session.scalars(select(FollowUp).where(FollowUp.referral_id == referral_id)).all()
        return {row.check: (row.due_date, row.outcome, row.evidence) for row in rows}


def missed_events(app, followup_id=None):
    with app.app_context():
        query = select(func.count()).select_from(Event).where(Event.type == "followup.missed")
        if followup_id:
            query = query.where(Event.subject_id == followup_id)
        return db.session.scalar(query)


def bulk_referrals(app, count, discharge, need="mental_health", prefix="Bulk", plan=True):
    """Many referrals with their plans, straight into the tables (for the fault and scale tests)."""
    from transitions.followups.plan import plan_referral

    with app.app_context():
        organization = OrganizationFactory(name="%s hospital" % prefix, kind="hospital")
        user = UserFactory(
            email="%s-planner@example.org" % prefix.lower(), organization_id=organization.id, role="discharge_planner"
        )
        ids = []
        for index in range(count):
            referral = ReferralFactory(
                organization_id=organization.id,
                created_by=user.id,
                given_name="%s%d" % (prefix, index),
                need=need,
                discharge_date=discharge,
            )
            if plan:
                plan_referral(referral)
            ids.append(referral.id)
        db.session.commit()
        return ids
