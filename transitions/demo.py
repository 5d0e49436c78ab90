"""Demo data: an IOP directory (from the SAMHSA 2022 directory when present), organizations, users and referrals."""
import csv
import gzip
import os
import random
import secrets
from collections import Counter, defaultdict, namedtuple
from datetime import date, timedelta

import click
from marshmallow import ValidationError
from sqlalchemy import select

from transitions.core import codes
from transitions.core.clock import today
from transitions.core.db import db
from transitions.core.fields import PHONE
from transitions.directory import service as programs
from transitions.directory.models import ORIGINS, SERVICES, WEEKDAYS
from transitions.directory.schemas import ProgramInSchema, TrackInSchema
from transitions.identity import passwords
from transitions.identity import service as organizations
from transitions.identity.models import Organization, User
from transitions.referrals import service as referrals
from transitions.referrals.schemas import ReferralInSchema

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Shared reference data lives next to the checkout and must never be copied into the repository.
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")
SAMHSA_FILE = "samhsa-2022-substance-use-facilities.csv.gz"

ADMIN_EMAIL = "admin@demo.example"
# The organization create-admin puts admins in: seeding after create-admin reuses it instead of adding a twin.
PLATFORM_ORG_NAME = "Platform administration"
# Organizations have no "platform" kind; create-admin files admins under a hospital-kind org, and so do we.
PLATFORM_ORG_KIND = "hospital"

# Programs are drawn from these states first so the demo referrals (IL, TX, PA, NY) have programs nearby.
DEMO_STATES = ("IL", "TX", "CA", "PA", "NY", "FL", "OH", "WA")

PROVIDER_NETWORKS = (
    ("Northstar Behavioral Health", 30),
    ("Harborlight Recovery Network", 25),
    ("Prairie Path Health Partners", 20),
    ("Summit Ridge Outpatient Services", 15),
    ("Clearwater Care Collaborative", 10),
)
HEALTH_PLAN_NAME = "Acme Health Plan"
HEALTH_PLAN_PAYERS = ("acme-health", "medicaid-il")
COMMERCIAL_PAYERS = (("acme-health", 0.75), ("blue-horizon", 0.6), ("cascade-mutual", 0.3))

# Referring organizations: key, name, kind, planner email.
REFERRING_ORGS = (
    ("lakeshore", "Lakeshore Behavioral Hospital (Chicago, IL)", "hospital", "planner@demo.example"),
    ("bayou", "Bayou City Psychiatric Hospital (Houston, TX)", "hospital", "planner2@demo.example"),
    ("cedar", "Cedar Ridge Residential Treatment Center (Malvern, PA)", "residential", "planner3@demo.example"),
)
PRIMARY_EMAILS = {
    "admin": ADMIN_EMAIL,
    "discharge_planner": "planner@demo.example",
    "case_manager": "manager@demo.example",
    "iop_coordinator": "coordinator@demo.example",
}
ROLE_ORDER = ("admin", "discharge_planner", "case_manager", "iop_coordinator")

# ---------------------------------------------------------------- SAMHSA service codes

MAT_CODES = frozenset({"BU", "NU", "MU", "MM", "OTP"})
# N-SUMHSS age groups: children/adolescents, young adults 18-25, adults 26-64, seniors 65+.
AGE_BANDS = (("CHLD", 12, 17), ("YAD", 18, 25), ("ADLT", 26, 64), ("SNR", 65, 120))
# Staff-language codes with an ISO 639-1 equivalent (Hmong and Yupik have none).
LANGUAGE_CODES = {
    "SP": "es", "F4": "ar", "F17": "zh", "F19": "ht", "F25": "fa", "F28": "fr", "F30": "de", "F31": "el",
    "F35": "he", "F36": "hi", "F42": "it", "F43": "ja", "F47": "ko", "F66": "pl", "F67": "pt", "F70": "ru",
    "F81": "tl", "F92": "vi", "N24": "oj",
}

Facility = namedtuple("Facility", "name zip phone service_codes state timezone")

# ---------------------------------------------------------------- built-in directory (no data folder)

# Real ZIP codes (all resolve with codes.zip_location) with their city and area code, for made-up programs.
FALLBACK_SITES = (
    ("60614", "Chicago", "773"), ("60640", "Chicago", "773"), ("60608", "Chicago", "312"),
    ("60201", "Evanston", "847"), ("60302", "Oak Park", "708"), ("60540", "Naperville", "630"),
    ("77004", "Houston", "713"), ("77030", "Houston", "713"), ("77379", "Spring", "281"),
    ("77550", "Galveston", "409"), ("78701", "Austin", "512"),
    ("90012", "Los Angeles", "213"), ("90401", "Santa Monica", "310"), ("91101", "Pasadena", "626"),
    ("90802", "Long Beach", "562"), ("94110", "San Francisco", "415"),
    ("19104", "Philadelphia", "215"), ("19147", "Philadelphia", "215"), ("19003", "Ardmore", "610"),
    ("19380", "West Chester", "610"), ("15213", "Pittsburgh", "412"),
    ("10027", "New York", "212"), ("11201", "Brooklyn", "718"), ("10451", "Bronx", "718"),
    ("10601", "White Plains", "914"), ("14604", "Rochester", "585"),
    ("33136", "Miami", "305"), ("33301", "Fort Lauderdale", "954"), ("32801", "Orlando", "407"),
    ("33602", "Tampa", "813"), ("32204", "Jacksonville", "904"),
    ("43215", "Columbus", "614"), ("44113", "Cleveland", "216"), ("44106", "Cleveland", "216"),
    ("45202", "Cincinnati", "513"), ("43604", "Toledo", "419"),
    ("98101", "Seattle", "206"), ("98122", "Seattle", "206"), ("98004", "Bellevue", "425"),
    ("98402", "Tacoma", "253"), ("99201", "Spokane", "509"),
)
NAME_PREFIXES = (
    "Lakeview", "Riverbend", "Oakwood", "Cedar Grove", "Harbor Light", "Summit", "Willow Creek", "Pinecrest",
    "Brightwater", "New Horizons", "Stillwater", "Maple Ridge", "Northfield", "Clear Path", "Beacon",
    "Crossroads", "Hope Springs", "Meadowbrook", "Silver Lake", "Evergreen", "Bridgeway", "Lighthouse",
    "Open Door", "Turning Point",
)
NAME_SUFFIXES = (
    "Behavioral Health", "Recovery Center", "Counseling Center", "Wellness Center", "Treatment Services",
    "Outpatient Clinic", "Health Partners", "Family Services",
)
OTHER_LANGUAGES = ("zh", "vi", "ru", "pl", "ko", "tl", "ar", "ht")
# (min_age, max_age) and how common each is among IOPs: most are adult programs, a few adolescent or senior.
FALLBACK_AGE_RANGES = (((18, 64), 35), ((18, 120), 40), ((26, 120), 10), ((13, 17), 10), ((65, 120), 5))

# ---------------------------------------------------------------- weekly schedules


def _week(days, start, end):
    return [{"day": day, "start": start, "end": end} for day in days]


MORNING_SCHEDULES = (
    _week(("mon", "tue", "thu"), "09:00", "12:00"),
    _week(("mon", "tue", "wed", "thu", "fri"), "09:00", "12:00"),
    _week(("mon", "wed", "fri"), "09:30", "12:30"),
    _week(("mon", "tue", "wed", "thu"), "10:00", "13:00"),
)
AFTERNOON_SCHEDULES = (
    _week(("mon", "tue", "wed", "thu"), "13:00", "16:00"),
    _week(("tue", "wed", "thu"), "13:30", "16:30"),
)
EVENING_SCHEDULES = (
    _week(("mon", "wed", "thu"), "18:00", "21:00"),
    _week(("mon", "tue", "wed", "thu"), "17:30", "20:30"),
    _week(("tue", "wed", "thu"), "18:00", "21:00"),
    _week(("mon", "tue", "thu"), "17:00", "20:00"),
)
# For people who work weekdays and cannot make three evenings.
WEEKEND_SCHEDULE = _week(("tue", "thu"), "18:00", "21:00") + _week(("sat",), "09:00", "12:00")

# ---------------------------------------------------------------- demo referrals

EVENINGS_MON_THU = _week(("mon", "tue", "wed", "thu"), "17:00", "22:00")
WEEKDAY_MORNINGS = _week(("mon", "tue", "wed", "thu", "fri"), "08:00", "13:00")
WEEKDAYS_UNTIL_5 = _week(("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00")

# The same patients every time, so a demo script can tell a story; dates move with today().
REFERRAL_STORIES = (
    dict(planner="lakeshore", given_name="Denise", family_name="Whitaker", age=41, birthday=(3, 14),
         gender="female", language="en", zip="60640", phone="773-555-0142", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F33.1"], needs_mat=False,
         discharge_in_days=2, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=15,
         consent=None, notes="Works days at a distribution center; can only attend evening groups."),
    dict(planner="lakeshore", given_name="Luis", family_name="Ramírez", age=29, birthday=(8, 2),
         gender="male", language="es", zip="60608", phone="312-555-0187", payer="medicaid-il",
         origin="inpatient_psych", need="co_occurring", diagnoses=["F31.32", "F10.20"], needs_mat=True,
         discharge_in_days=1, availability=WEEKDAY_MORNINGS, modality="in_person", max_travel_miles=10,
         consent=(-1, None), notes="Prefers Spanish-speaking groups; relies on public transit. Started naltrexone."),
    dict(planner="lakeshore", given_name="Kevin", family_name="O'Malley", age=52, birthday=(11, 23),
         gender="male", language="en", zip="60201", phone="847-555-0119", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F20.9"], needs_mat=False,
         discharge_in_days=-2, availability=None, modality="in_person", max_travel_miles=20,
         consent=None, notes="Lives with his sister; she drives him to appointments.",
         cancel_reason="Moved in with family in Wisconsin; referred to a program there."),
    dict(planner="bayou", given_name="Jasmine", family_name="Nguyen", age=24, birthday=(6, 5),
         gender="female", language="en", zip="77004", phone="713-555-0164", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F43.10", "F41.1"], needs_mat=False,
         discharge_in_days=3, availability=None, modality="either", max_travel_miles=25,
         consent=None, notes="Graduate student; flexible schedule outside exam weeks."),
    dict(planner="bayou", given_name="Marcus", family_name="Johnson", age=46, birthday=(1, 30),
         gender="male", language="en", zip="77030", phone="713-555-0151", payer="blue-horizon",
         origin="inpatient_psych", need="co_occurring", diagnoses=["F25.0", "F14.20"], needs_mat=False,
         discharge_in_days=0, availability=WEEKDAYS_UNTIL_5, modality="in_person", max_travel_miles=20,
         consent=(0, 365), notes="On disability; daytime groups preferred."),
    dict(planner="bayou", given_name="Ana", family_name="Gutiérrez", age=33, birthday=(9, 17),
         gender="female", language="es", zip="77550", phone="409-555-0133", payer=None,
         origin="inpatient_psych", need="mental_health", diagnoses=["F32.2"], needs_mat=False,
         discharge_in_days=-1, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=30,
         consent=None, notes="Uninsured; asked about sliding-scale fees.",
         cancel_reason="Patient declined IOP; continuing with her outpatient psychiatrist."),
    # Discharged three days ago and still without a seat: on the demo's first day the follow-up sweep finds her
    # intake check missed, so the case manager's board has someone to call.
    dict(planner="bayou", given_name="Tamika", family_name="Brooks", age=38, birthday=(10, 12),
         gender="female", language="en", zip="77021", phone="713-555-0190", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F31.81"], needs_mat=False,
         discharge_in_days=-3, availability=EVENINGS_MON_THU, modality="in_person", max_travel_miles=10,
         consent=None, notes="No car; her sister can drive her two evenings a week."),
    dict(planner="cedar", given_name="Ryan", family_name="Kowalski", age=27, birthday=(4, 9),
         gender="male", language="en", zip="19147", phone="215-555-0178", payer="acme-health",
         origin="residential", need="substance_use", diagnoses=["F11.20"], needs_mat=True,
         discharge_in_days=5, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=15,
         consent=(-5, 360), notes="Stepping down after 28 days residential; maintained on buprenorphine."),
    dict(planner="cedar", given_name="Emily", family_name="Chen", age=19, birthday=(12, 1),
         gender="female", language="en", zip="10027", phone="212-555-0106", payer="acme-health",
         origin="residential", need="co_occurring", diagnoses=["F33.2", "F12.20"], needs_mat=False,
         discharge_in_days=4, availability=None, modality="telehealth", max_travel_miles=None,
         # No Part 2 consent yet: the demo shows a referral that can be matched but not offered.
         consent=None, notes="Going home to New York; wants to review the Part 2 consent with her parents."),
)

# ---------------------------------------------------------------- the directory plan (no database)


def samhsa_path(data_dir=None):
    """The SAMHSA file to read, or None when neither data_dir nor the shared data folder has it."""
    folder = data_dir or DEFAULT_DATA_DIR
    path = os.path.join(folder, SAMHSA_FILE)
    return os.path.normpath(path) if os.path.isfile(path) else None


def plan_directory(program_count, rng, data_dir=None):
    """Validated program and track payloads with their provider network; the same rng state gives the same plan.

    Returns {"source", "data_path", "skipped_facilities", "programs": [{"provider", "program", "tracks"}]}.
    """
    path = samhsa_path(data_dir)
    planned, skipped = [], 0
    if path:
        by_state, skipped = _read_oit_facilities(path)
        for facility in _spread_across_states(by_state, rng):
            if len(planned) >= program_count:
                break
            telehealth = "TELE" in facility.service_codes
            entry = _validated(_facility_program(facility, rng), facility.timezone, telehealth, rng)
            if entry is None:
                skipped += 1
            else:
                planned.append(entry)
    # Without the data folder, or when it runs out, made-up programs at real ZIP codes fill the directory.
    used_names = {entry["program"]["name"] for entry in planned}
    while len(planned) < program_count:
        program, telehealth = _generated_program(rng, used_names)
        timezone = codes.zip_location(program["zip"])[3]
        planned.append(_validated(program, timezone, telehealth, rng, strict=True))
    return {
        "source": "samhsa" if path else "generator",
        "data_path": path,
        "skipped_facilities": skipped,
        "programs": planned,
    }


def _read_oit_facilities(path):
    """Stream the gzip CSV once, keeping intensive outpatient (OIT) facilities whose ZIP places them."""
    by_state, skipped = defaultdict(list), 0
    zones = codes.iana_timezones()
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        column = {name: index for index, name in enumerate(next(rows))}
        name1, name2, zip_column, phone_column, codes_column = (
            column[name] for name in ("name1", "name2", "zip", "phone", "service_code_info"))
        for row in rows:
            # A substring test first: most rows are not intensive outpatient and need no further work.
            if "OIT" not in row[codes_column]:
                continue
            service_codes = frozenset(row[codes_column].split())
            if "OIT" not in service_codes:
                continue
            zip_code = row[zip_column].strip()[:5]
            location = codes.zip_location(zip_code)
            # A few ZIPs carry no (or a non-IANA) zone in the zipcodes package; tracks need a real one.
            if location is None or location[3] not in zones:
                skipped += 1
                continue
            name = " - ".join(part.strip() for part in (row[name1], row[name2]) if part.strip())
            phone = row[phone_column].strip()
            by_state[location[2]].append(Facility(
                name=name[:200], zip=zip_code, phone=phone if PHONE.match(phone) else None,
                service_codes=service_codes, state=location[2], timezone=location[3],
            ))
    return by_state, skipped


def _spread_across_states(by_state, rng):
    """Facilities in round-robin order across states: the demo states first, then every other state."""
    for state in sorted(by_state):
        rng.shuffle(by_state[state])
    demo = [state for state in DEMO_STATES if state in by_state]
    others = sorted(state for state in by_state if state not in DEMO_STATES)
    for group in (demo, others):
        queues = [list(by_state[state]) for state in group]
        while any(queues):
            for queue in queues:
                if queue:
                    yield queue.pop()


def _facility_program(facility, rng):
    """A program payload from a facility's N-SUMHSS service codes."""
    service_codes = facility.service_codes
    services = set()
    if "SA" in service_codes:
        services.add("substance_use")
    if "SUMH" in service_codes or "CO" in service_codes:
        services.add("co_occurring")
    # The file is the substance use directory: a facility treating co-occurring disorders that also offers
    # mental health services is the realistic step-down for a psychiatric discharge, so it counts as MH.
    if "MH" in service_codes or ("MHS" in service_codes and "co_occurring" in services):
        services.add("mental_health")
    services = services or {"substance_use"}
    bands = [(low, high) for code, low, high in AGE_BANDS if code in service_codes]
    min_age, max_age = (min(b[0] for b in bands), max(b[1] for b in bands)) if bands else (18, 120)
    serves_female, serves_male = "FEM" in service_codes, "MALE" in service_codes
    gender = "female" if serves_female and not serves_male else "male" if serves_male and not serves_female else "any"
    languages = ["en"] + sorted({iso for code, iso in LANGUAGE_CODES.items() if code in service_codes})
    payers = []
    if "MD" in service_codes:
        payers.append("medicaid-%s" % facility.state.lower())
    if "MC" in service_codes:
        payers.append("medicare")
    if "MI" in service_codes:
        payers.append("tricare")
    if "PI" in service_codes:
        payers.extend(_commercial_payers(rng))
    return {
        "name": facility.name,
        "zip": facility.zip,
        "state": facility.state,
        "phone": facility.phone,
        "services": [service for service in SERVICES if service in services],
        "min_age": min_age,
        "max_age": max_age,
        "gender": gender,
        "languages": languages,
        # Sign-language services (AH) mean the facility already books interpreters.
        "interpreter_services": "AH" in service_codes,
        "payers": payers,
        "self_pay": "SF" in service_codes,
        "mat": bool(service_codes & MAT_CODES) and services != {"mental_health"},
        "accepts_from": _accepts_from(rng),
        "telehealth_states": [facility.state] if "TELE" in service_codes else [],
    }


def _commercial_payers(rng):
    chosen = [payer for payer, share in COMMERCIAL_PAYERS if rng.random() < share]
    return chosen or [COMMERCIAL_PAYERS[0][0]]


def _accepts_from(rng):
    roll = rng.random()
    if roll < 0.7:
        return list(ORIGINS)
    return ["inpatient_psych"] if roll < 0.9 else ["residential"]


def _generated_program(rng, used_names):
    """A made-up program at one of the built-in ZIP codes; returns (payload, offers telehealth)."""
    zip_code, city, area_code = rng.choice(FALLBACK_SITES)
    state = codes.zip_location(zip_code)[2]
    name = "%s %s - %s" % (rng.choice(NAME_PREFIXES), rng.choice(NAME_SUFFIXES), city)
    if name in used_names:
        site = 2
        while "%s (site %d)" % (name, site) in used_names:
            site += 1
        name = "%s (site %d)" % (name, site)
    used_names.add(name)
    profile = rng.random()
    if profile < 0.35:
        services = ["mental_health"]
    elif profile < 0.55:
        services = ["substance_use"]
    elif profile < 0.7:
        services = ["substance_use", "co_occurring"]
    else:
        services = ["mental_health", "substance_use", "co_occurring"]
    (min_age, max_age), = rng.choices([ages for ages, _ in FALLBACK_AGE_RANGES],
                                      weights=[weight for _, weight in FALLBACK_AGE_RANGES])
    languages = ["en"]
    if rng.random() < 0.4:
        languages.append("es")
    if rng.random() < 0.1:
        languages.append(rng.choice(OTHER_LANGUAGES))
    public_payers = (("medicaid-%s" % state.lower(), 0.8), ("medicare", 0.5))
    payers = [payer for payer, share in public_payers if rng.random() < share]
    payers += _commercial_payers(rng)
    telehealth = rng.random() < 0.7
    gender_roll = rng.random()
    return {
        "name": name,
        "zip": zip_code,
        "state": state,
        # 555-01xx numbers are reserved for fiction.
        "phone": "%s-555-01%02d" % (area_code, rng.randrange(100)),
        "services": services,
        "min_age": min_age,
        "max_age": max_age,
        "gender": "any" if gender_roll < 0.85 else "female" if gender_roll < 0.95 else "male",
        "languages": languages,
        "interpreter_services": rng.random() < 0.5,
        "payers": payers,
        "self_pay": rng.random() < 0.6,
        "mat": "substance_use" in services and rng.random() < 0.6,
        "accepts_from": _accepts_from(rng),
        "telehealth_states": [state] if telehealth else [],
    }, telehealth


def _tracks(timezone, telehealth, rng):
    """1-3 weekly tracks: mornings and evenings so people can keep working, some by telehealth."""
    count = rng.choices((1, 2, 3), weights=(30, 45, 25))[0]
    kinds = [rng.choice(("morning", "evening"))] if count == 1 else ["morning", "evening"]
    if count == 3:
        kinds.append(rng.choice(("afternoon", "weekend") + (("telehealth",) if telehealth else ())))
    # A telehealth-capable program without a separate virtual group runs its evening group online now and then.
    if telehealth and "telehealth" not in kinds and "evening" in kinds and rng.random() < 0.3:
        kinds[kinds.index("evening")] = "telehealth"
    tracks = []
    for kind in kinds:
        modality = "in_person"
        if kind == "morning":
            name, sessions = "Morning IOP", rng.choice(MORNING_SCHEDULES)
        elif kind == "afternoon":
            name, sessions = "Afternoon IOP", rng.choice(AFTERNOON_SCHEDULES)
        elif kind == "weekend":
            name, sessions = "Evening and Saturday IOP", WEEKEND_SCHEDULE
        elif kind == "evening":
            name, sessions = "Evening IOP", rng.choice(EVENING_SCHEDULES)
        else:
            name, sessions, modality = "Telehealth evening IOP", rng.choice(EVENING_SCHEDULES), "telehealth"
        track = {"name": name, "modality": modality, "timezone": timezone, "sessions": [dict(s) for s in sessions],
                 "capacity": rng.randint(6, 15)}
        # Many IOPs admit new patients only on the first group day of the week.
        if rng.random() < 0.35:
            track["intake_days"] = [min((s["day"] for s in sessions), key=WEEKDAYS.index)]
        tracks.append(track)
    return tracks


_PROGRAM_SCHEMA = ProgramInSchema()
_TRACK_SCHEMA = TrackInSchema()


def _validated(program, timezone, telehealth, rng, strict=False):
    """Run the payloads through the API's own schemas, so seeded rows obey every rule an API client meets.

    Real directory rows that fail (odd names, phones) are skipped (None); built-in ones must pass (strict).
    """
    provider = rng.choices([name for name, _ in PROVIDER_NETWORKS], weights=[w for _, w in PROVIDER_NETWORKS])[0]
    tracks = _tracks(timezone, telehealth, rng)
    try:
        return {
            "provider": provider,
            "program": _PROGRAM_SCHEMA.load(program),
            "tracks": [_TRACK_SCHEMA.load(track) for track in tracks],
        }
    except ValidationError:
        if strict:
            raise
        return None


# ---------------------------------------------------------------- seeding


def seed(program_count=300, seed=7, data_dir=None):
    """Create the demo in the current session (the caller commits); returns the summary describe() prints."""
    if db.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL)):
        raise click.ClickException("Demo data is already loaded (%s exists); use a fresh database." % ADMIN_EMAIL)
    rng = random.Random(seed)
    users = []

    def add_user(email, organization, role):
        user, token = organizations.create_user(email, organization.id, role)
        # A random web password per demo user, printed once like the token: a demo left running on a
        # reachable host must not open with a password everyone knows.
        password = secrets.token_urlsafe(12)
        user.password_hash = passwords.hash_password(password)
        users.append({"role": role, "email": user.email, "token": token, "password": password,
                      "organization": organization.name})
        return user

    platform = db.session.scalar(select(Organization).where(Organization.name == PLATFORM_ORG_NAME))
    platform = platform or organizations.create_organization(PLATFORM_ORG_NAME, PLATFORM_ORG_KIND)
    admin = add_user(ADMIN_EMAIL, platform, "admin")

    planners = {}
    for key, name, kind, email in REFERRING_ORGS:
        planners[key] = add_user(email, organizations.create_organization(name, kind), "discharge_planner")
    plan = organizations.create_organization(HEALTH_PLAN_NAME, "health_plan", HEALTH_PLAN_PAYERS)
    add_user(PRIMARY_EMAILS["case_manager"], plan, "case_manager")

    directory = plan_directory(program_count, rng, data_dir)
    providers = {name: organizations.create_organization(name, "iop_provider") for name, _ in PROVIDER_NETWORKS}
    programs_per_provider = Counter()
    track_count = 0
    for entry in directory["programs"]:
        owner = providers[entry["provider"]]
        program = programs.create_program(admin, dict(entry["program"], organization_id=owner.id))
        for track in entry["tracks"]:
            programs.create_track(program, track)
        programs_per_provider[entry["provider"]] += 1
        track_count += len(entry["tracks"])
    # The coordinator sits in the network with the most programs, so their own-program views are the richest.
    busiest = max(providers, key=programs_per_provider.__getitem__)
    add_user(PRIMARY_EMAILS["iop_coordinator"], providers[busiest], "iop_coordinator")

    referral_statuses = Counter(_seed_referral(story, planners[story["planner"]], rng).status
                                for story in REFERRAL_STORIES)
    organization_kinds = Counter(org.kind for org in [plan] + list(providers.values()))
    organization_kinds.update(kind for _, _, kind, _ in REFERRING_ORGS)
    return {
        "source": directory["source"],
        "data_path": directory["data_path"],
        "skipped_facilities": directory["skipped_facilities"],
        "programs": len(directory["programs"]),
        "tracks": track_count,
        "states": sorted({entry["program"]["state"] for entry in directory["programs"]}),
        "organizations": dict(organization_kinds),
        "health_plan": {"name": plan.name, "payer_ids": list(plan.payer_ids)},
        "coordinator_network": {"name": busiest, "programs": programs_per_provider[busiest]},
        "referrals": dict(referral_statuses),
        "users": sorted(users, key=lambda u: (ROLE_ORDER.index(u["role"]), u["email"] != PRIMARY_EMAILS[u["role"]],
                                             u["email"])),
    }


def _seed_referral(story, planner, rng):
    day = today()
    payload = {
        "patient": {
            "given_name": story["given_name"],
            "family_name": story["family_name"],
            "birth_date": date(day.year - story["age"], *story["birthday"]).isoformat(),
            "gender": story["gender"],
            "language": story["language"],
            "zip": story["zip"],
            "phone": story["phone"],
        },
        "coverage": _coverage(story["payer"], rng),
        "origin": story["origin"],
        "need": story["need"],
        "diagnoses": story["diagnoses"],
        "needs_mat": story["needs_mat"],
        "discharge_date": (day + timedelta(days=story["discharge_in_days"])).isoformat(),
        "timezone": codes.zip_location(story["zip"])[3],
        "modality": story["modality"],
        "notes": story["notes"],
    }
    if story["availability"] is not None:
        payload["availability"] = story["availability"]
    if story["max_travel_miles"] is not None:
        payload["max_travel_miles"] = story["max_travel_miles"]
    if story["consent"] is not None:
        signed_offset, expires_offset = story["consent"]
        payload["part2_consent"] = {
            "signed_on": (day + timedelta(days=signed_offset)).isoformat(),
            "expires_on": (day + timedelta(days=expires_offset)).isoformat() if expires_offset is not None else None,
        }
    referral = referrals.create_referral(planner, ReferralInSchema().load(payload))
    if story.get("cancel_reason"):
        referrals.cancel_referral(planner, referral, story["cancel_reason"])
    return referral


def _coverage(payer_id, rng):
    if payer_id is None:
        return {"self_pay": True}
    if payer_id.startswith("medicaid-"):
        member_id = "%09d" % rng.randrange(10 ** 8, 10 ** 9)  # state Medicaid recipient ids are 9 digits
    else:
        member_id = "%s%08d" % (payer_id[:3].upper(), rng.randrange(10 ** 7, 10 ** 8))
    return {"payer_id": payer_id, "member_id": member_id}


# ---------------------------------------------------------------- the printout


def describe(summary, base_url="http://127.0.0.1:5000"):
    """Counts, one line per role with its bearer token, other planners, and a curl hint as the last line."""
    if summary["source"] == "samhsa":
        source = "facilities from the SAMHSA 2022 directory (%s)" % summary["data_path"]
        if summary["skipped_facilities"]:
            source += ", %d facilities skipped" % summary["skipped_facilities"]
    else:
        source = "made-up programs from the built-in generator (no %s found)" % SAMHSA_FILE
    kinds = summary["organizations"]
    statuses = ", ".join("%d %s" % (count, status) for status, count in sorted(summary["referrals"].items()))
    lines = [
        "Demo data loaded: %d IOP programs with %d tracks in %d states, %s." % (
            summary["programs"], summary["tracks"], len(summary["states"]), source),
        "Organizations: %d hospitals, %d residential, %d health plan (%s, payer ids %s), %d IOP providers." % (
            kinds.get("hospital", 0), kinds.get("residential", 0), kinds.get("health_plan", 0),
            summary["health_plan"]["name"], ", ".join(summary["health_plan"]["payer_ids"]),
            kinds.get("iop_provider", 0)),
        "The coordinator works for %s (%d programs)." % (
            summary["coordinator_network"]["name"], summary["coordinator_network"]["programs"]),
        "Referrals: %d (%s)." % (sum(summary["referrals"].values()), statuses),
        "",
        "Bearer tokens (shown once):",
    ]
    primary = [u for u in summary["users"] if u["email"] == PRIMARY_EMAILS[u["role"]]]
    others = [u for u in summary["users"] if u["email"] != PRIMARY_EMAILS[u["role"]]]
    email_width = max(len(u["email"]) for u in summary["users"])
    for user in primary:
        lines.append("%-18s %-*s  %s" % (user["role"], email_width, user["email"], user["token"]))
    if others:
        lines.append("Other users:")
        for user in others:
            lines.append("  %s  %s  %s (%s)" % (user["email"], user["token"], user["role"], user["organization"]))
    # Indented, so these lines never read as the role/token table above.
    lines.append("")
    lines.append("Web sign-in at %s/sign-in (passwords shown once; " % base_url +
                 "change one with `flask --app transitions set-password EMAIL`):")
    for user in primary + others:
        lines.append("  %-18s %-*s  %s" % (user["role"], email_width, user["email"], user.get("password", "")))
    planner = next(u for u in primary if u["role"] == "discharge_planner")
    lines.append("")
    lines.append('Try: curl -H "Authorization: Bearer %s" %s/api/v1/referrals' % (planner["token"], base_url))
    return "\n".join(lines)
