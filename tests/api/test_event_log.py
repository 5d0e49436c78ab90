"""The event log's order: an event written at once as a row (record_event's rows_written) never overtakes one
recorded before it and still waiting in the session, since the timeline and the outbox read events by seq."""

from sqlalchemy import select

from tests.support.followups import submit
from transitions.core.db import db
from transitions.notify.events import record_event
from transitions.notify.models import Event
from transitions.referrals.models import Referral


def test_an_event_written_as_a_row_comes_after_one_still_pending_in_the_session(app, api, world):
    referral_id = submit(api, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        pending = record_event("referral.updated", referral=referral, subject=referral, data={"n": 1})
        assert pending in db.session.new
        record_event("referral.updated", referral=referral, subject=referral, data={"n": 2}, rows_written=True)
        events = db.session.scalars(
            select(Event).where(Event.referral_id == referral_id, Event.type == "referral.updated").order_by(Event.seq)
        ).all()
        assert [event.data["n"] for event in events] == [1, 2]
