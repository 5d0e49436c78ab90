"""Builders and invariant checks shared by the offer and placement tests (this module has no tests of its own)."""

import itertools
from datetime import date, timedelta

from sqlalchemy import func, select

from tests.support import payloads
from transitions.core.db import db
from transitions.directory.models import WEEKDAYS, Track
from transitions.offers.models import Offer, Placement

_serial = itertools.count(1)


def next_weekday_on_or_after(start, days):
    """The first date on or after `start` whose weekday is one of `days` (mon..sun)."""
    for offset in range(7):
        day = start + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] in days:
            return day
    raise AssertionError("no such weekday")


class Scene:
    """Programs, tracks, referrals and offers made through the API, as the users of the world fixture."""

    def __init__(self, api, world, app, clock):
        self.api, self.world, self.app, self.clock = api, world, app, clock

    def token(self, who):
        return self.world.tokens[who]

    def today(self):
        return self.clock.now.date()

    def program(self, who="coordinator", **overrides):
        response = self.api.post("/api/v1/programs", payloads.program(**overrides), token=self.token(who))
        assert response.status_code == 201, response.json
        return response.json

    def track(self, program=None, who="coordinator", **overrides):
        program = program or self.program(who)
        response = self.api.post(
            "/api/v1/programs/%s/tracks" % program["id"], payloads.track(**overrides), token=self.token(who)
        )
        assert response.status_code == 201, response.json
        return response.json

    def referral(self, who="planner", **overrides):
        patient = dict(overrides.pop("patient", {}))
        patient.setdefault("given_name", "Patient%d" % next(_serial))
        overrides.setdefault("discharge_date", (self.today() + timedelta(days=2)).isoformat())
        response = self.api.post(
            "/api/v1/referrals", payloads.referral(patient=patient, **overrides), token=self.token(who)
        )
        assert response.status_code == 201, response.json
        return response.json

    def sud_referral(self, who="planner", **overrides):
        overrides.setdefault("need", "co_occurring")
        overrides.setdefault("diagnoses", ["F33.1", "F10.20"])
        overrides.setdefault("part2_consent", {"signed_on": (self.today() - timedelta(days=3)).isoformat()})
        return self.referral(who, **overrides)

    def offer(self, referral, track, who="planner", **kwargs):
        return self.api.post(
            "/api/v1/referrals/%s/offers" % _id(referral), {"track_id": _id(track)}, token=self.token(who), **kwargs
        )

    def offered(self, referral, track, who="planner"):
        response = self.offer(referral, track, who)
        assert response.status_code == 201, response.json
        return response.json

    def intake_date(self, referral, track):
        discharge = date.fromisoformat(referral["discharge_date"])
        return next_weekday_on_or_after(max(discharge, self.today()), track["intake_days"]).isoformat()

    def accept(self, offer, intake_date, who="coordinator", **kwargs):
        return self.api.post(
            "/api/v1/offers/%s/accept" % _id(offer), {"intake_date": intake_date}, token=self.token(who), **kwargs
        )

    def placed(self, referral, track, who="planner", coordinator="coordinator"):
        """Offer and accept: returns (offer body after accept, placement body)."""
        offer = self.offered(referral, track, who)
        response = self.accept(offer, self.intake_date(referral, track), coordinator)
        assert response.status_code == 200, response.json
        placement = self.api.get("/api/v1/placements/%s" % response.json["placement_id"], token=self.token(coordinator))
        assert placement.status_code == 200, placement.json
        return response.json, placement.json

    def decline(self, offer, reason="clinical_fit", who="coordinator", **body):
        return self.api.post(
            "/api/v1/offers/%s/decline" % _id(offer), dict(reason=reason, **body), token=self.token(who)
        )

    def withdraw(self, offer, who="planner"):
        return self.api.post("/api/v1/offers/%s/withdraw" % _id(offer), {}, token=self.token(who))

    def get_offer(self, offer, who="planner"):
        return self.api.get("/api/v1/offers/%s" % _id(offer), token=self.token(who))

    def offer_now(self, offer, who="planner"):
        response = self.get_offer(offer, who)
        assert response.status_code == 200, response.json
        return response.json

    def get_referral(self, referral, who="planner"):
        response = self.api.get("/api/v1/referrals/%s" % _id(referral), token=self.token(who))
        assert response.status_code == 200, response.json
        return response.json

    def seats(self, track):
        response = self.api.get("/api/v1/tracks/%s/availability" % _id(track), token=self.token("planner"))
        assert response.status_code == 200, response.json
        return response.json

    def timeline_types(self, referral, who="planner"):
        response = self.api.get("/api/v1/referrals/%s/timeline?limit=500" % _id(referral), token=self.token(who))
        assert response.status_code == 200, response.json
        return [event["type"] for event in response.json["items"]]

    def timeline(self, referral, who="planner"):
        return self.api.get("/api/v1/referrals/%s/timeline?limit=500" % _id(referral), token=self.token(who)).json[
            "items"
        ]


def _id(thing):
    return thing if isinstance(thing, str) else thing["id"]


def invariant_problems(app, max_pending=None):
    """Everything that would break the seat invariant, read straight from the database."""
    problems = []
    with app.app_context():
        max_pending = max_pending or app.config["MAX_PENDING_OFFERS"]
        pending = dict(
            db.session.execute(
                select(Offer.track_id, func.count()).where(Offer.status == "pending").group_by(Offer.track_id)
            ).all()
        )
        active = dict(
            db.session.execute(
                select(Placement.track_id, func.count())
                .where(Placement.status == "active")
                .group_by(Placement.track_id)
            ).all()
        )
        for track in db.session.scalars(select(Track)):
            if track.occupied + track.held > track.capacity:
                problems.append(("over capacity", track.id, track.capacity, track.occupied, track.held))
            if track.held != pending.get(track.id, 0):
                problems.append(("held != pending offers", track.id, track.held, pending.get(track.id, 0)))
            if track.occupied != active.get(track.id, 0):
                problems.append(("occupied != active placements", track.id, track.occupied, active.get(track.id, 0)))
        for referral_id, count in db.session.execute(
            select(Offer.referral_id, func.count())
            .where(Offer.status == "accepted")
            .group_by(Offer.referral_id)
            .having(func.count() > 1)
        ):
            problems.append(("several accepted offers", referral_id, count))
        for referral_id, count in db.session.execute(
            select(Offer.referral_id, func.count())
            .where(Offer.status == "pending")
            .group_by(Offer.referral_id)
            .having(func.count() > max_pending)
        ):
            problems.append(("too many pending offers", referral_id, count))
        for referral_id, count in db.session.execute(
            select(Placement.referral_id, func.count()).group_by(Placement.referral_id).having(func.count() > 1)
        ):
            problems.append(("several placements", referral_id, count))
        db.session.remove()
    return problems
