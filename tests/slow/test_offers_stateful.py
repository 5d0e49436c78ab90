"""A hypothesis state machine drives offers, accepts, declines, withdrawals, expiry, discharges, capacity changes,
consent revocations, cancellations and readmissions through the API, and checks the invariants after every step."""

import os
from datetime import date, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from tests.conftest import on_postgres
from tests.support.offers import Scene, invariant_problems, next_weekday_on_or_after
from transitions.core.db import db
from transitions.offers import service as offers_service
from transitions.offers.models import DECLINE_REASONS, DISCHARGE_OUTCOMES, Placement
from transitions.referrals.models import Referral

MAX_PENDING = 2


class OfferMachine(RuleBasedStateMachine):
    """Three tracks with one or two seats, four referrals (one auto-cascading, one under Part 2, one discharged
    two days ago, the one that gets readmitted), so most of them stay in play."""

    scene = None  # set by the test: one app and world serve every example

    def __init__(self):
        super().__init__()
        scene = self.scene
        first = scene.program(name="First")
        self.tracks = [
            scene.track(first, capacity=1),
            scene.track(first, capacity=2, name="Second evening track"),
            scene.track(scene.program(who="coordinator2", name="Other provider"), who="coordinator2", capacity=1),
        ]
        self.referrals = [
            scene.referral(),
            scene.referral(auto_cascade=True),
            scene.sud_referral(),
            scene.referral(discharge_date=(scene.today() - timedelta(days=2)).isoformat()),
        ]
        self.offers = []
        self.placements = []

    def _admin(self):
        return self.scene.token("admin")

    @rule(r=st.integers(0, 3), t=st.integers(0, 2))
    def offer(self, r, t):
        response = self.scene.offer(self.referrals[r], self.tracks[t])
        assert response.status_code in (201, 409, 422), response.json
        event("offer -> %d" % response.status_code)
        if response.status_code == 201:
            self.offers.append(response.json)

    @precondition(lambda self: self.offers)
    @rule(i=st.integers(0, 99))
    def accept(self, i):
        offer = self.offers[i % len(self.offers)]
        referral = next(r for r in self.referrals if r["id"] == offer["referral_id"])
        track = next(t for t in self.tracks if t["id"] == offer["track_id"])
        start = max(date.fromisoformat(referral["discharge_date"]), self.scene.today())
        intake = next_weekday_on_or_after(start, track["intake_days"]).isoformat()
        response = self.scene.accept(offer, intake, who="admin")
        assert response.status_code in (200, 409), response.json
        event("accept -> %d" % response.status_code)
        if response.status_code == 200:
            self.placements.append(response.json["placement_id"])

    @precondition(lambda self: self.offers)
    @rule(i=st.integers(0, 99), reason=st.sampled_from(DECLINE_REASONS))
    def decline(self, i, reason):
        response = self.scene.decline(self.offers[i % len(self.offers)], reason, who="admin")
        assert response.status_code in (200, 409), response.json
        event("decline -> %d" % response.status_code)

    @precondition(lambda self: self.offers)
    @rule(i=st.integers(0, 99))
    def withdraw(self, i):
        response = self.scene.withdraw(self.offers[i % len(self.offers)])
        assert response.status_code in (200, 409), response.json
        event("withdraw -> %d" % response.status_code)

    @rule(hours=st.sampled_from([1, 24, 47, 49]), sweep=st.booleans())
    def expire(self, hours, sweep):
        self.scene.clock.now += timedelta(hours=hours)
        if sweep:
            with self.scene.app.app_context():
                offers_service.expire_due_offers(self.scene.clock.now)
                db.session.commit()
                db.session.remove()

    @precondition(lambda self: self.placements)
    @rule(i=st.integers(0, 99), outcome=st.sampled_from(DISCHARGE_OUTCOMES))
    def discharge(self, i, outcome):
        placement_id = self.placements[i % len(self.placements)]
        response = self.scene.api.post(
            "/api/v1/placements/%s/discharge" % placement_id, {"outcome": outcome}, token=self._admin()
        )
        assert response.status_code in (200, 409), response.json
        event("discharge -> %d" % response.status_code)

    @rule(t=st.integers(0, 2), capacity=st.integers(1, 3))
    def change_capacity(self, t, capacity):
        response = self.scene.api.patch(
            "/api/v1/tracks/%s" % self.tracks[t]["id"], {"capacity": capacity}, token=self._admin()
        )
        assert response.status_code in (200, 409), response.json
        event("change_capacity -> %d" % response.status_code)

    @rule(r=st.sampled_from([0, 2]))
    def revoke_consent(self, r):
        response = self.scene.api.post(
            "/api/v1/referrals/%s/consent/revoke" % self.referrals[r]["id"], {}, token=self.scene.token("planner")
        )
        assert response.status_code in (200, 409), response.json
        event("revoke_consent -> %d" % response.status_code)

    @rule()
    def cancel(self):
        response = self.scene.api.post(
            "/api/v1/referrals/%s/cancel" % self.referrals[0]["id"], {}, token=self.scene.token("planner")
        )
        assert response.status_code in (200, 409), response.json
        event("cancel -> %d" % response.status_code)

    @rule()
    def readmit(self):
        response = self.scene.api.post(
            "/api/v1/referrals/%s/readmission" % self.referrals[3]["id"],
            {"date": self.scene.today().isoformat()},
            token=self.scene.token("planner"),
        )
        assert response.status_code in (201, 422), response.json
        event("readmit -> %d" % response.status_code)

    @invariant()
    def seats_add_up(self):
        assert invariant_problems(self.scene.app, MAX_PENDING) == []

    @invariant()
    def placements_match_referral_states(self):
        app = self.scene.app
        with app.app_context():
            active = set(db.session.scalars(select(Placement.referral_id).where(Placement.status == "active")))
            in_care = set(db.session.scalars(select(Referral.id).where(Referral.status.in_(("placed", "attending")))))
            db.session.remove()
        assert active == in_care


def test_offer_workflow_keeps_the_invariant(api, world, app, clock):
    app.config["MAX_PENDING_OFFERS"] = MAX_PENDING
    OfferMachine.scene = Scene(api, world, app, clock)
    # Modest by default so the suite stays fast; OFFER_MACHINE_EXAMPLES=60 for a long hunt.
    examples = int(os.environ.get("OFFER_MACHINE_EXAMPLES", 6 if on_postgres() else 8))
    run_state_machine_as_test(
        OfferMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
