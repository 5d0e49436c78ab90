"""Screenshots of each role's main page for the README: a demo with three months of history, served and photographed.

Run with `scripts/screenshots` (writes docs/screenshots/*.png). Everything goes through the services, as time
passes on an injected clock, so the pictures show what the pages show after real use.
"""

import os
import random
import sys
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tests.support.browser import Browser, LiveServer, browser_unavailable, sign_in  # noqa: E402
from transitions import MIGRATIONS_DIR, create_app, demo, scheduler
from transitions.core.db import db
from transitions.directory.models import WEEKDAYS, Program, Track
from transitions.identity import passwords  # noqa: E402
from transitions.identity.models import User
from transitions.matching import engine as matching
from transitions.offers import placements
from transitions.offers import service as offers
from transitions.referrals import service as referrals
from transitions.referrals.schemas import ReferralInSchema

OUT = os.path.join(ROOT, "docs", "screenshots")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Chicago
PASSWORD = "screenshots-only-password"
GIVEN = (
    "Alex",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Riley",
    "Jamie",
    "Avery",
    "Quinn",
    "Rowan",
    "Sam",
    "Drew",
    "Elena",
    "Tomas",
    "Priya",
    "Malik",
    "Grace",
    "Omar",
    "Hana",
    "Luca",
    "Nora",
    "Ines",
    "Theo",
    "Maya",
)
FAMILY = (
    "Rivera",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Haddad",
    "Novak",
    "Castillo",
    "Brennan",
    "Sato",
    "Adeyemi",
    "Kowal",
    "Fischer",
    "Duarte",
    "Mensah",
    "Varga",
    "Quinlan",
    "Petrov",
    "Ibarra",
    "Lund",
    "Achebe",
)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def local(day, hour, zone):
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def fitting_payload(program, track, discharge, rng, index):
    """A referral this track's rules accept: the program's own ZIP, need, language, payer and ages."""
    need = "mental_health" if "mental_health" in program.services else program.services[0]
    diagnoses = {"mental_health": ["F33.1"], "substance_use": ["F10.20"], "co_occurring": ["F33.1", "F10.20"]}[need]
    age = max(program.min_age, min(program.max_age, rng.randint(24, 58)))
    gender = program.gender if program.gender != "any" else rng.choice(("female", "male"))
    payload = {
        "patient": {
            "given_name": GIVEN[index % len(GIVEN)],
            "family_name": FAMILY[(index * 7) % len(FAMILY)],
            "birth_date": date(discharge.year - age, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            "gender": gender,
            "language": "en" if "en" in program.languages else program.languages[0],
            "zip": program.zip,
        },
        "coverage": {"payer_id": "acme-health", "member_id": "ACM%08d" % rng.randrange(10**7, 10**8)},
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
    return payload


def build_history(app, clock, rng):
    """Twelve weeks of discharges into the coordinator's programs: offers, declines, intakes, attendance."""
    with app.app_context():
        coordinator = db.session.scalar(select(User).where(User.email == "coordinator@demo.example"))
        planner = db.session.scalar(select(User).where(User.email == "planner@demo.example"))
        tracks = [
            t
            for t in db.session.scalars(
                select(Track)
                .join(Program)
                .where(
                    Program.organization_id == coordinator.organization_id,
                    Track.modality == "in_person",
                    Track.active.is_(True),
                )
            )
            if "acme-health" in t.program.payers and t.program.min_age <= 30 <= t.program.max_age
        ]
        # Tracks meeting on Tuesdays first, so today's roster has people on it.
        tracks.sort(key=lambda t: ("tue" not in [s["day"] for s in t.sessions], t.id))
        track_ids = [t.id for t in tracks[:8]]
        planner_id, coordinator_id = planner.id, coordinator.id
    index = 0
    for weeks_ago in range(12, -1, -1):
        for _ in range(rng.randint(2, 4) if weeks_ago else 3):
            discharge = NOW.date() - timedelta(days=weeks_ago * 7 + rng.randint(0, 6))
            if discharge > NOW.date():
                continue
            index += 1
            story(
                app,
                clock,
                rng,
                track_ids[index % len(track_ids)],
                discharge,
                index,
                planner_id,
                coordinator_id,
                recent=weeks_ago == 0,
            )
    clock.now = NOW
    scheduler.run_pass(app, NOW)


def story(app, clock, rng, track_id, discharge, index, planner_id, coordinator_id, recent):
    with app.app_context():
        planner, coordinator = db.session.get(User, planner_id), db.session.get(User, coordinator_id)
        track = db.session.get(Track, track_id)
        program = track.program
        clock.now = min(local(discharge - timedelta(days=1), 10, track.timezone), NOW)
        referral = referrals.create_referral(
            planner, ReferralInSchema().load(fitting_payload(program, track, discharge, rng, index))
        )
        roll = rng.random()
        if roll < 0.12:
            db.session.commit()
            return  # never offered: still waiting, so its 7-day check is missed
        if recent:
            clock.now = NOW - timedelta(hours=rng.randint(1, 20))
        offer = offers.create_offer(planner, referral.id, track, clock.now)
        if recent:
            db.session.commit()
            return  # a pending offer in today's inbox
        if roll < 0.25:
            offers.decline_offer(
                coordinator,
                offer.id,
                rng.choice(("at_capacity", "schedule", "clinical_fit", "patient_declined")),
                None,
                clock.now,
            )
            db.session.commit()
            return
        verdict = matching.evaluate(referral, track, clock.now.date())
        intake = verdict.first_intake_date
        if rng.random() < 0.3:  # some start a week later than they could have
            intake += timedelta(days=7)
        intake = max(intake, discharge)
        while WEEKDAYS[intake.weekday()] not in track.intake_days:
            intake += timedelta(days=1)
        if intake > NOW.date():
            intake = NOW.date()
            while WEEKDAYS[intake.weekday()] not in track.intake_days:
                intake -= timedelta(days=1)
            if intake < discharge:
                db.session.commit()
                return
        clock.now = min(clock.now + timedelta(hours=rng.choice((2, 5, 20))), NOW)
        _, placement = offers.accept_offer(coordinator, offer.id, intake, clock.now)
        session_days = {s["day"] for s in track.sessions}
        reliability = rng.choice((0.95, 0.9, 0.8, 0.5))
        day = intake
        attended = 0
        while day < NOW.date() and day <= intake + timedelta(days=60):
            if WEEKDAYS[day.weekday()] in session_days:
                clock.now = local(day, 21, track.timezone)
                status = "attended" if rng.random() < reliability else rng.choice(("missed", "missed", "excused"))
                placements.record_attendance(coordinator, placement.id, day, status, clock.now)
                attended += status == "attended"
            day += timedelta(days=1)
        if intake + timedelta(days=45) < NOW.date():
            clock.now = local(intake + timedelta(days=46), 12, track.timezone)
            placements.discharge(coordinator, placement.id, "completed" if attended > 8 else "dropped_out", clock.now)
        db.session.commit()


def build(directory):
    clock = Clock(NOW)
    url = "sqlite:///%s" % os.path.join(directory, "screens.sqlite3")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "screenshots",
            "CLOCK": clock,
            # The screenshots show days of clicking; keep the sessions alive meanwhile.
            "WEB_IDLE_TIMEOUT_SECONDS": 10**7,
        }
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        demo.seed(program_count=120, seed=11)
        for user in db.session.scalars(select(User)):
            passwords.set_password(user, PASSWORD)
        db.session.commit()
    build_history(app, clock, random.Random(5))
    return app


SHOTS = (
    ("discharge_planner", "planner@demo.example", "/referrals", "planner-referrals.png"),
    ("discharge_planner", "planner@demo.example", None, "planner-referral.png"),
    ("discharge_planner", "planner@demo.example", "/referrals/new", "planner-new-referral.png"),
    ("iop_coordinator", "coordinator@demo.example", "/offers", "coordinator-offers.png"),
    ("iop_coordinator", "coordinator@demo.example", "/roster", "coordinator-roster.png"),
    ("iop_coordinator", "coordinator@demo.example", "/programs", "coordinator-programs.png"),
    ("case_manager", "manager@demo.example", "/board", "case-manager-board.png"),
    ("case_manager", "manager@demo.example", None, "case-manager-journey.png"),
    ("case_manager", "manager@demo.example", "/metrics", "case-manager-metrics.png"),
)

# Long pages are shown as a laptop screen sees them, not as a scroll of paper.
VIEWPORT_ONLY = (
    "case-manager-board.png",
    "coordinator-programs.png",
    "planner-referrals.png",
    "case-manager-journey.png",
)


def main():
    problem = browser_unavailable()
    if problem:
        sys.exit("cannot take screenshots: %s" % problem)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        app = build(directory)
        server = LiveServer(app)
        browser = Browser()
        try:
            signed_in_as = None
            page = browser.page()
            for _role, email, path, name in SHOTS:
                if email != signed_in_as:
                    page = browser.page()
                    sign_in(page, server.url, email, PASSWORD)
                    signed_in_as = email
                if name == "planner-referral.png":
                    # The planner's newest waiting referral: its matches and reasons.
                    page.goto(server.url + "/referrals?status=submitted")
                    page.locator("#referral-list tbody a").first.click()
                elif name == "case-manager-journey.png":
                    # A member who is attending: the path, the checks and the sessions.
                    page.goto(server.url + "/board")
                    page.locator("#column-attending a.member-name").first.click()
                else:
                    page.goto(server.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=os.path.join(OUT, name), full_page=name not in VIEWPORT_ONLY)
                print("wrote", os.path.relpath(os.path.join(OUT, name), ROOT))
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()
