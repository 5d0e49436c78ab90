"""Seeding the demo (organizations, one user per role, the directory, referrals) and the printout of what it made."""

import random
import secrets
from collections import Counter
from datetime import date, timedelta

import click
from flask import current_app
from sqlalchemy import select

from transitions.core import codes
from transitions.core.clock import today, utcnow
from transitions.core.db import db
from transitions.demo.directory import PROVIDER_NETWORKS, plan_directory
from transitions.demo.history import build_history, feed_discharges, reach_out_on_missed_checks
from transitions.demo.samhsa import MENTAL_HEALTH_FILE, SAMHSA_FILE
from transitions.demo.stories import REFERRAL_STORIES
from transitions.directory import service as programs
from transitions.identity import passwords
from transitions.identity import service as organizations
from transitions.identity.commands import PLATFORM_ORGANIZATION
from transitions.identity.models import PLATFORM_KIND, Organization, User
from transitions.referrals import service as referrals
from transitions.referrals.models import Referral
from transitions.referrals.schemas import ReferralInSchema
from transitions.scheduler import run_pass

ADMIN_EMAIL = "admin@demo.example"
HEALTH_PLAN_NAME = "Acme Health Plan"
HEALTH_PLAN_PAYERS = ("acme-health", "medicaid-il")

HEALTH_PLAN_TIMEZONE = "America/Chicago"
PLATFORM_TIMEZONE = "America/Chicago"
# Referring organizations: key, name, kind, planner email, the zone their pages show times in.
REFERRING_ORGS = (
    ("lakeshore", "Lakeshore Behavioral Hospital (Chicago, IL)", "hospital", "planner@demo.example", "America/Chicago"),
    ("bayou", "Bayou City Psychiatric Hospital (Houston, TX)", "hospital", "planner2@demo.example", "America/Chicago"),
    (
        "cedar",
        "Cedar Ridge Residential Treatment Center (Malvern, PA)",
        "residential",
        "planner3@demo.example",
        "America/New_York",
    ),
)
# The sending facility (MSH-4) each referring organization's ADT feed names; Lakeshore's feed is in the history.
HL7_FACILITY_IDS = {"lakeshore": "LAKESHORE", "bayou": "BAYOUCITY", "cedar": "CEDARRIDGE"}
PRIMARY_EMAILS = {
    "admin": ADMIN_EMAIL,
    "discharge_planner": "planner@demo.example",
    "case_manager": "manager@demo.example",
    "iop_coordinator": "coordinator@demo.example",
}
ROLE_ORDER = ("admin", "discharge_planner", "case_manager", "iop_coordinator")


def seed(program_count=300, seed=7, data_dir=None, history_weeks=None):
    """Create the demo and commit it, with history_weeks of history before now (default: the DEMO_HISTORY_WEEKS
    setting, else 12; 0: none) and the follow-up checks judged as of now; returns the summary describe() prints.
    A database that has the demo is left alone."""
    if db.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL)):
        raise click.ClickException("Demo data is already loaded (%s exists); use a fresh database." % ADMIN_EMAIL)
    now = utcnow()
    if history_weeks is None:
        history_weeks = int(current_app.config["DEMO_HISTORY_WEEKS"])
    rng = random.Random(seed)
    users = []

    def add_user(email, organization, role):
        user, token = organizations.create_user(email, organization.id, role)
        # A random web password per demo user, printed once like the token: a demo left running on a
        # reachable host must not open with a password everyone knows.
        password = secrets.token_urlsafe(12)
        user.password_hash = passwords.hash_password(password)
        users.append(
            {"role": role, "email": user.email, "token": token, "password": password, "organization": organization.name}
        )
        return user

    # create-admin's organization: seeding after create-admin reuses it instead of adding a twin.
    platform = db.session.scalar(select(Organization).where(Organization.name == PLATFORM_ORGANIZATION))
    platform = platform or organizations.create_organization(
        PLATFORM_ORGANIZATION, PLATFORM_KIND, timezone=PLATFORM_TIMEZONE
    )
    add_user(ADMIN_EMAIL, platform, "admin")

    planners = {}
    for key, name, kind, email, timezone in REFERRING_ORGS:
        organization = organizations.create_organization(
            name, kind, hl7_facility_ids=[HL7_FACILITY_IDS[key]], timezone=timezone
        )
        planners[key] = add_user(email, organization, "discharge_planner")
    plan = organizations.create_organization(
        HEALTH_PLAN_NAME, "health_plan", HEALTH_PLAN_PAYERS, timezone=HEALTH_PLAN_TIMEZONE
    )
    manager = add_user(PRIMARY_EMAILS["case_manager"], plan, "case_manager")

    directory = plan_directory(program_count, rng, data_dir)
    zones = provider_timezones(directory["programs"])
    providers = {
        name: organizations.create_organization(name, "iop_provider", timezone=zones.get(name, PLATFORM_TIMEZONE))
        for name, _ in PROVIDER_NETWORKS
    }
    programs_per_provider = Counter()
    track_count = 0
    for entry in directory["programs"]:
        owner = providers[entry["provider"]]
        program = programs.create_program(owner.id, entry["program"])
        for track in entry["tracks"]:
            programs.create_track(program, track)
        programs_per_provider[entry["provider"]] += 1
        track_count += len(entry["tracks"])
    # The coordinator sits in the network with the most programs, so their own-program views are the richest.
    busiest = max(providers, key=programs_per_provider.__getitem__)
    coordinator = add_user(PRIMARY_EMAILS["iop_coordinator"], providers[busiest], "iop_coordinator")

    past = {"weeks": 0, "referrals": 0, "placements": 0, "attendance": 0, "outreach": 0, "discharges": 0, "visits": 0}
    if history_weeks > 0:
        past.update(build_history(planners["lakeshore"], coordinator, manager, now, history_weeks))
    for story in REFERRAL_STORIES:
        _seed_referral(story, planners[story["planner"]], rng)
    db.session.commit()
    if history_weeks > 0:
        past.update(feed_discharges(manager, HL7_FACILITY_IDS["lakeshore"], REFERRING_ORGS[0][4], now, history_weeks))
        # The follow-up checks that fell due in the past are judged as the scheduler would have judged them.
        run_pass(current_app._get_current_object(), now)
        past["outreach"] = reach_out_on_missed_checks(manager, now)
        db.session.commit()
    referral_statuses = Counter(db.session.scalars(select(Referral.status)))
    organization_kinds = Counter(org.kind for org in [plan] + list(providers.values()))
    organization_kinds.update(kind for _, _, kind, _, _ in REFERRING_ORGS)
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
        "history": past,
        "users": sorted(
            users, key=lambda u: (ROLE_ORDER.index(u["role"]), u["email"] != PRIMARY_EMAILS[u["role"]], u["email"])
        ),
    }


def provider_timezones(planned):
    """Each provider network's zone: the one most of its planned tracks meet in."""
    zones = {}
    for entry in planned:
        for track in entry["tracks"]:
            zones.setdefault(entry["provider"], Counter())[track["timezone"]] += 1
    return {provider: counts.most_common(1)[0][0] for provider, counts in zones.items()}


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
        member_id = "%09d" % rng.randrange(10**8, 10**9)  # state Medicaid recipient ids are 9 digits
    else:
        member_id = "%s%08d" % (payer_id[:3].upper(), rng.randrange(10**7, 10**8))
    return {"payer_id": payer_id, "member_id": member_id}


# ---------------------------------------------------------------- the printout


def describe(summary, base_url="http://127.0.0.1:5000"):
    """Counts, one line per role with its bearer token, other planners, and a curl hint as the last line."""
    if summary["source"] == "samhsa":
        source = "facilities from the SAMHSA 2022 directory (%s)" % summary["data_path"]
        if summary["skipped_facilities"]:
            source += ", %d facilities skipped" % summary["skipped_facilities"]
    else:
        source = "made-up programs from the built-in generator (no %s or %s found)" % (SAMHSA_FILE, MENTAL_HEALTH_FILE)
    kinds = summary["organizations"]
    statuses = ", ".join("%d %s" % (count, status) for status, count in sorted(summary["referrals"].items()))
    lines = [
        "Demo data loaded: %d IOP programs with %d tracks in %d states, %s."
        % (summary["programs"], summary["tracks"], len(summary["states"]), source),
        "Organizations: %d hospitals, %d residential, %d health plan (%s, payer ids %s), %d IOP providers."
        % (
            kinds.get("hospital", 0),
            kinds.get("residential", 0),
            kinds.get("health_plan", 0),
            summary["health_plan"]["name"],
            ", ".join(summary["health_plan"]["payer_ids"]),
            kinds.get("iop_provider", 0),
        ),
        "The coordinator works for %s (%d programs)."
        % (summary["coordinator_network"]["name"], summary["coordinator_network"]["programs"]),
        "Referrals: %d (%s)." % (sum(summary["referrals"].values()), statuses),
    ]
    past = summary.get("history") or {}
    if past.get("referrals"):
        lines.append(
            "History: the last %d weeks of the coordinator's programs (%d referrals, %d placements, %d sessions "
            "recorded, %d outreach notes) and Lakeshore's ADT feed (%d discharges without referral, %d follow-up "
            "visits recorded), follow-up checks judged as of now."
            % (
                past["weeks"],
                past["referrals"],
                past["placements"],
                past["attendance"],
                past["outreach"],
                past["discharges"],
                past["visits"],
            )
        )
    lines += ["", "Bearer tokens (shown once):"]
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
    lines.append(
        "Web sign-in at %s/sign-in (passwords shown once; " % base_url
        + "change one with `flask --app transitions set-password EMAIL`):"
    )
    for user in primary + others:
        lines.append("  %-18s %-*s  %s" % (user["role"], email_width, user["email"], user.get("password", "")))
    planner = next(u for u in primary if u["role"] == "discharge_planner")
    lines.append("")
    lines.append('Try: curl -H "Authorization: Bearer %s" %s/api/v1/referrals' % (planner["token"], base_url))
    return "\n".join(lines)
