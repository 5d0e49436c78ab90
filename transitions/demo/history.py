"""The demo's past: twelve weeks of discharges into the coordinator's programs, lived through the same commands the
pages call (referral, offer, decline or accept, attendance, discharge from the program, outreach) on an injected
clock, then one follow-up sweep as of now, so the metrics, the board and the roster open with real figures."""

import random
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from itertools import zip_longest

from flask import current_app
from sqlalchemy import select

from transitions.adt import commands as adt_commands
from transitions.core.clock import local_today, zone
from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.directory.models import WEEKDAYS, Program, Track
from transitions.discharges import commands as discharge_commands
from transitions.discharges.models import Discharge
from transitions.followups import commands as followup_commands
from transitions.followups.models import FollowUp
from transitions.offers import commands as offer_commands
from transitions.offers import queries as offer_queries
from transitions.referrals import commands as referral_commands
from transitions.referrals.schemas import ReferralInSchema

WEEKS = 12
# The history's tracks: this many of the coordinator's in-person tracks that take the demo plan's members.
HISTORY_TRACKS = 8
HISTORY_PAYER = "acme-health"
# A placement lasts this many days; then it is ended, completed or dropped out by the sessions attended.
PROGRAM_DAYS = 42
DECLINE_REASONS = ("at_capacity", "schedule", "clinical_fit", "patient_declined")
GIVEN = (
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Rowan", "Sam", "Drew",
    "Elena", "Tomas", "Priya", "Malik", "Grace", "Omar", "Hana", "Luca", "Nora", "Ines", "Theo", "Maya",
)  # fmt: skip
FAMILY = (
    "Rivera", "Okafor", "Lindqvist", "Moreau", "Haddad", "Novak", "Castillo", "Brennan", "Sato", "Adeyemi", "Kowal",
    "Fischer", "Duarte", "Mensah", "Varga", "Quinlan", "Petrov", "Ibarra", "Lund", "Achebe",
)  # fmt: skip
# Misses more recent than this are left without a note: the board's people to call.
OUTREACH_AFTER_DAYS = 5
OUTREACH = (
    ("Left a voicemail; will try again tomorrow.", False),
    ("Reached the member: intake set up, transport arranged.", True),
    ("Spoke with the member's sister; member will call back.", False),
)


class SettableClock:
    """The app's clock while the history is written: each step sets the time it happened at."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@contextmanager
def clock_at(now):
    """Install a settable clock in the app for the duration (and put back whatever clock was there)."""
    clock = SettableClock(now)
    previous = current_app.config.get("CLOCK")
    current_app.config["CLOCK"] = clock
    try:
        yield clock
    finally:
        current_app.config["CLOCK"] = previous


def local(day, hour, zone_name):
    return datetime.combine(day, time(hour), tzinfo=zone(zone_name)).astimezone(UTC)


def history_tracks(coordinator, now):
    """The coordinator's in-person tracks that take the plan's adult members, those meeting today first (so today's
    roster has people on it), at most HISTORY_TRACKS."""
    tracks = [
        track
        for track in db.session.scalars(
            select(Track)
            .join(Program)
            .where(
                Program.organization_id == coordinator.organization_id,
                Program.active.is_(True),
                Program.unconfirmed.is_(False),
                Track.modality == "in_person",
                Track.active.is_(True),
            )
            .order_by(Track.id)
        )
        if HISTORY_PAYER in track.program.payers and track.program.min_age <= 30 <= track.program.max_age
    ]

    def meets_today(track):
        return WEEKDAYS[local_today(track.timezone, now).weekday()] in {s["day"] for s in track.sessions}

    # By name, not id (ids are random), so a seed writes the same history every time; and mental health and
    # substance use programs taken in turn, so every rate on the metrics page (the SUD ones too) has members.
    tracks.sort(key=lambda t: (not meets_today(t), t.program.name, t.name))
    treats_sud = [t for t in tracks if "mental_health" not in t.program.services]  # see fitting_referral
    others = [t for t in tracks if t not in treats_sud]
    mixed = [t for pair in zip_longest(others, treats_sud) for t in pair if t is not None]
    return mixed[:HISTORY_TRACKS]


def fitting_referral(program, track, discharge, rng, index):
    """A referral this track's rules accept: the program's own ZIP, need, language, origin and ages."""
    need = "mental_health" if "mental_health" in program.services else program.services[0]
    diagnoses = {"mental_health": ["F33.1"], "substance_use": ["F10.20"], "co_occurring": ["F33.1", "F10.20"]}[need]
    age = max(program.min_age, min(program.max_age, rng.randint(24, 58)))
    payload = {
        "patient": {
            "given_name": GIVEN[index % len(GIVEN)],
            "family_name": FAMILY[(index * 7) % len(FAMILY)],
            "birth_date": date(discharge.year - age, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            "gender": program.gender if program.gender != "any" else rng.choice(("female", "male")),
            "language": "en" if "en" in program.languages else program.languages[0],
            "zip": program.zip,
        },
        "coverage": {"payer_id": HISTORY_PAYER, "member_id": "ACM%08d" % rng.randrange(10**7, 10**8)},
        "origin": program.accepts_from[0],
        "need": need,
        "diagnoses": diagnoses,
        "discharge_date": discharge.isoformat(),
        "timezone": track.timezone,
        "modality": "either",
        "max_travel_miles": 15,
    }
    if need != "mental_health":
        payload["part2_consent"] = {"signed_on": (discharge - timedelta(days=2)).isoformat()}
    return ReferralInSchema().load(payload)


def build_history(planner, coordinator, manager, now, weeks=WEEKS, rng=None):
    """Write the `weeks` before `now` (the caller commits, then sweeps the follow-ups as of now); returns
    {"weeks": n, "referrals": n, "placements": n, "attendance": n}."""
    rng = rng or random.Random(5)
    tracks = history_tracks(coordinator, now)
    counts = {"weeks": weeks, "referrals": 0, "placements": 0, "attendance": 0}
    if not tracks:
        return counts
    index = 0
    with clock_at(now) as clock:
        for weeks_ago in range(weeks, -1, -1):
            for _ in range(rng.randint(3, 5) if weeks_ago else 3):
                discharge = now.date() - timedelta(days=weeks_ago * 7 + rng.randint(0, 6))
                if discharge > now.date():
                    continue
                index += 1
                track = tracks[index % len(tracks)]
                try:
                    with db.session.begin_nested():
                        _story(clock, rng, track, discharge, index, planner, coordinator, now, counts, weeks_ago == 0)
                except DomainError:
                    continue  # a track full at that moment: the story is left out, as a planner would move on
        clock.now = now
    return counts


def _story(clock, rng, track, discharge, index, planner, coordinator, now, counts, recent):
    """One patient: referred the day before discharge; never offered, declined, pending, or placed and attending."""
    program = track.program
    clock.now = min(local(discharge - timedelta(days=1), 10, track.timezone), now)
    referral = referral_commands.submit_referral(
        planner, fitting_referral(program, track, discharge, rng, index), clock.now
    )
    counts["referrals"] += 1
    roll = rng.random()
    if roll < 0.1:
        return  # never offered: still waiting, so its 7-day check is missed
    if recent:
        clock.now = now - timedelta(hours=rng.randint(1, 20))
    offer = offer_commands.send_offer(planner, referral.id, track.id, clock.now)
    if recent:
        return  # a pending offer in today's inbox
    clock.now = min(clock.now + timedelta(hours=rng.choice((2, 5, 20))), now)
    if roll < 0.22:
        offer_commands.decline_offer(coordinator, offer.id, rng.choice(DECLINE_REASONS), None, clock.now)
        return
    choices = offer_queries.intake_days(referral, track, clock.now, 3)
    # Most start on the first intake day; some a week or so later than they could have.
    intake = choices[0] if rng.random() < 0.7 or len(choices) < 2 else choices[-1]
    if intake > now.date():
        return  # no start yet: the offer is left to expire, as unanswered ones do
    _, placement = offer_commands.accept_offer(coordinator, offer.id, intake, clock.now)
    counts["placements"] += 1
    session_days = {s["day"] for s in track.sessions}
    reliability = rng.choice((0.95, 0.9, 0.8, 0.5))
    today = local_today(track.timezone, now)
    attended, day = 0, intake
    while day < today and day <= intake + timedelta(days=PROGRAM_DAYS):
        if WEEKDAYS[day.weekday()] in session_days:
            clock.now = min(local(day, 21, track.timezone), now)
            status = "attended" if rng.random() < reliability else rng.choice(("missed", "missed", "excused"))
            offer_commands.record_attendance(coordinator, placement.id, day, status, clock.now)
            counts["attendance"] += 1
            attended += status == "attended"
        day += timedelta(days=1)
    if intake + timedelta(days=PROGRAM_DAYS) < today:
        clock.now = local(intake + timedelta(days=PROGRAM_DAYS + 1), 12, track.timezone)
        outcome = "completed" if attended > 8 else "dropped_out"
        offer_commands.discharge_placement(coordinator, placement.id, outcome, clock.now)


def feed_discharges(manager, facility_id, timezone, now, weeks=WEEKS, rng=None):
    """The hospital's ADT feed over the same weeks: A03s of the plan's members nobody referred (the board's "No
    step-down arranged"), received through the inbox as the listener receives them, and for about half of those
    discharged a while ago a follow-up visit the case manager learned of. Commits (the inbox does); returns
    {"discharges": n, "visits": n}."""
    rng = rng or random.Random(11)
    counts = {"discharges": 0, "visits": 0}
    for index in range(max(2, weeks // 2 + 2)):
        day = local_today(timezone, now) - timedelta(days=rng.randint(1, max(1, weeks * 7)))
        # The feed's times are the hospital's wall clock, as HL7 v2 senders write them.
        discharged = datetime.combine(day, time(rng.randint(9, 16), rng.choice((0, 15, 30, 45))), zone(timezone))
        raw = _a03(facility_id, "DEMO%04d" % (index + 1), index, discharged, rng)
        answer = adt_commands.receive_from_listener(raw, discharged.astimezone(UTC) + timedelta(minutes=2))
        discharge = db.session.scalar(select(Discharge).where(Discharge.adt_message_id == answer.message.id))
        if discharge is None:
            continue
        counts["discharges"] += 1
        visit_day = discharge.discharge_date + timedelta(days=rng.randint(2, 9))
        if rng.random() < 0.5 and visit_day <= local_today(discharge.timezone, now) - timedelta(days=1):
            discharge_commands.record_visit(manager, discharge.id, {"date": visit_day}, now)
            counts["visits"] += 1
    db.session.commit()
    return counts


def _a03(facility_id, control_id, index, discharged, rng):
    """An HL7 v2.5.1 ADT^A03 as hospitals send it: PID with the plan's member id, PV1-45 the discharge, IN1-3 the
    plan's payer id."""
    stamp = discharged.strftime("%Y%m%d%H%M")
    admitted = (discharged - timedelta(days=rng.randint(4, 15))).strftime("%Y%m%d%H%M")
    member = "ACM%08d" % rng.randrange(10**7, 10**8)
    given, family = GIVEN[(index * 5 + 3) % len(GIVEN)], FAMILY[(index * 3 + 11) % len(FAMILY)]
    birth = date(discharged.year - rng.randint(22, 60), rng.randint(1, 12), rng.randint(1, 28)).strftime("%Y%m%d")
    pv1 = ["PV1", "1", "I"] + [""] * 41 + [admitted, stamp]
    in1 = ["IN1", "1", "HMO", HISTORY_PAYER] + [""] * 32 + [member]
    segments = (
        "MSH|^~\\&|EPIC|%s|TRANSITIONS|PLAN|%s||ADT^A03^ADT_A03|%s|P|2.5.1" % (facility_id, stamp, control_id),
        "EVN|A03|%s" % stamp,
        "PID|1||MRN%06d^^^%s^MR||%s^%s^^^^^L||%s|%s"
        % (index + 1, facility_id, family, given, birth, "F" if index % 2 else "M"),
        "|".join(pv1),
        "|".join(in1),
    )
    return ("\r".join(segments) + "\r").encode("utf-8")


def reach_out_on_missed_checks(manager, now, rng=None):
    """The case manager's notes on every other check missed more than a few days ago (after the sweep judged them), so
    journeys show outreach; this week's misses are left for the board's "to call" list. Returns the notes made."""
    rng = rng or random.Random(9)
    missed = db.session.scalars(
        select(FollowUp)
        .where(
            FollowUp.outcome == "missed",
            FollowUp.referral_id.is_not(None),
            FollowUp.due_at < now - timedelta(days=OUTREACH_AFTER_DAYS),
        )
        .order_by(FollowUp.due_at, FollowUp.id)
    ).all()
    made = 0
    with clock_at(now) as clock:
        for followup in missed[::2]:
            clock.now = min(followup.due_at + timedelta(hours=rng.randint(14, 30)), now)
            note, reached = rng.choice(OUTREACH)
            try:
                with db.session.begin_nested():
                    followup_commands.record_contact(
                        manager, followup.id, {"note": note, "reached": reached}, clock.now
                    )
            except DomainError:
                continue  # another plan's member: not this case manager's to call
            made += 1
    return made
