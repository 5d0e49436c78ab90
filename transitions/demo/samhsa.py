"""The SAMHSA 2022 directory (N-SUMHSS) read for the demo: intensive outpatient facilities as program payloads."""

import csv
import gzip
import os
from collections import defaultdict, namedtuple

from transitions.core import codes
from transitions.core.fields import PHONE
from transitions.demo.generator import accepts_from, commercial_payers
from transitions.directory.models import SERVICES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Shared reference data lives next to the checkout and must never be copied into the repository.
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")
SAMHSA_FILE = "samhsa-2022-substance-use-facilities.csv.gz"

# Programs are drawn from these states first so the demo referrals (IL, TX, PA, NY) have programs nearby.
DEMO_STATES = ("IL", "TX", "CA", "PA", "NY", "FL", "OH", "WA")

# ---------------------------------------------------------------- SAMHSA service codes

MAT_CODES = frozenset({"BU", "NU", "MU", "MM", "OTP"})
# N-SUMHSS age groups: children/adolescents, young adults 18-25, adults 26-64, seniors 65+.
AGE_BANDS = (("CHLD", 12, 17), ("YAD", 18, 25), ("ADLT", 26, 64), ("SNR", 65, 120))
# Staff-language codes with an ISO 639-1 equivalent (Hmong and Yupik have none).
LANGUAGE_CODES = {
    "SP": "es",
    "F4": "ar",
    "F17": "zh",
    "F19": "ht",
    "F25": "fa",
    "F28": "fr",
    "F30": "de",
    "F31": "el",
    "F35": "he",
    "F36": "hi",
    "F42": "it",
    "F43": "ja",
    "F47": "ko",
    "F66": "pl",
    "F67": "pt",
    "F70": "ru",
    "F81": "tl",
    "F92": "vi",
    "N24": "oj",
}

Facility = namedtuple("Facility", "name zip phone service_codes state timezone")


def samhsa_path(data_dir=None):
    """The SAMHSA file to read, or None when neither data_dir nor the shared data folder has it."""
    folder = data_dir or DEFAULT_DATA_DIR
    path = os.path.join(folder, SAMHSA_FILE)
    return os.path.normpath(path) if os.path.isfile(path) else None


def read_oit_facilities(path):
    """Stream the gzip CSV once, keeping intensive outpatient (OIT) facilities whose ZIP places them."""
    by_state, skipped = defaultdict(list), 0
    zones = codes.iana_timezones()
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        column = {name: index for index, name in enumerate(next(rows))}
        name1, name2, zip_column, phone_column, codes_column = (
            column[name] for name in ("name1", "name2", "zip", "phone", "service_code_info")
        )
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
            by_state[location[2]].append(
                Facility(
                    name=name[:200],
                    zip=zip_code,
                    phone=phone if PHONE.match(phone) else None,
                    service_codes=service_codes,
                    state=location[2],
                    timezone=location[3],
                )
            )
    return by_state, skipped


def spread_across_states(by_state, rng):
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


def facility_program(facility, rng):
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
        payers.extend(commercial_payers(rng))
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
        "accepts_from": accepts_from(rng),
        "telehealth_states": [facility.state] if "TELE" in service_codes else [],
    }
