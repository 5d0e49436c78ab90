"""The SAMHSA 2022 directory (N-SUMHSS) read for the demo: mental health and substance use facilities as programs.

Rows are read by the directory import's reader (transitions.directory.samhsa), so the demo and the import map the
files' service codes the same way: mental health programs come from the mental health file's partial
hospitalization/day treatment (PHDT) facilities, substance use and co-occurring ones from the substance use file's
intensive outpatient (OIT) facilities.
"""

import os
from collections import Counter, defaultdict, namedtuple

from transitions.core import codes
from transitions.demo.generator import accepts_from, commercial_payers
from transitions.directory import samhsa as nsumhss

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Shared reference data lives next to the checkout and must never be copied into the repository.
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")
SAMHSA_FILE = "samhsa-2022-substance-use-facilities.csv.gz"
MENTAL_HEALTH_FILE = "samhsa-2022-mental-health-facilities.csv.gz"
# Each file with the setting the demo takes from it.
FILE_SETTINGS = ((MENTAL_HEALTH_FILE, "PHDT"), (SAMHSA_FILE, "OIT"))

# Programs are drawn from these states first so the demo referrals (IL, TX, PA, NY) have programs nearby.
DEMO_STATES = ("IL", "TX", "CA", "PA", "NY", "FL", "OH", "WA")
# Of the programs from the files, the share from the mental health file: most demo stories are psychiatric
# discharges needing mental health care, the rest substance use or co-occurring.
MENTAL_HEALTH_SHARE = 0.5

Facility = namedtuple("Facility", "fields telehealth timezone")


def samhsa_paths(data_dir=None):
    """{setting: path} of the facility files present in data_dir (or the shared data folder); empty when none."""
    folder = data_dir or DEFAULT_DATA_DIR
    found = {}
    for name, setting in FILE_SETTINGS:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            found[setting] = os.path.normpath(path)
    return found


def samhsa_path(data_dir=None):
    """The data files to read as one printable string, or None when the folder has neither."""
    paths = samhsa_paths(data_dir)
    return ", ".join(paths.values()) or None


def read_facilities(path, setting):
    """Stream one file with the import's reader, keeping `setting` facilities whose ZIP places them in a zone.

    Returns ({state: [Facility]}, skipped)."""
    by_state, skipped = defaultdict(list), 0
    zones = codes.iana_timezones()
    for row in nsumhss.read_file(path):
        if row.skip or setting not in row.settings:
            continue
        if row.error:
            skipped += 1
            continue
        location = codes.zip_location(row.fields["zip"])
        # A few ZIPs carry no (or a non-IANA) zone in the zipcodes package; tracks need a real one.
        if location is None or location[3] not in zones:
            skipped += 1
            continue
        fields = dict(row.fields)
        # The file decides the kind of program: mental health from the mental health file, substance use from the
        # substance use file; either may also treat co-occurring disorders.
        kind = "mental_health" if setting == "PHDT" else "substance_use"
        fields["services"] = [kind] + (["co_occurring"] if "co_occurring" in fields["services"] else [])
        by_state[location[2]].append(Facility(fields, bool(fields["telehealth_states"]), location[3]))
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


def demo_facilities(paths, rng):
    """(Facilities from both files, mental health and substance use interleaved by MENTAL_HEALTH_SHARE, skipped)."""
    streams, skipped = {}, 0
    for setting, path in paths.items():
        by_state, dropped = read_facilities(path, setting)
        skipped += dropped
        streams[setting] = spread_across_states(by_state, rng)
    return _interleaved(streams), skipped


def _interleaved(streams):
    taken = Counter()
    while streams:
        # The setting furthest below its share goes next, so any prefix keeps the proportion.
        total = sum(taken.values()) + 1
        share = {"PHDT": MENTAL_HEALTH_SHARE, "OIT": 1 - MENTAL_HEALTH_SHARE}
        setting = min(streams, key=lambda s: (taken[s] / total - share[s], s))
        facility = next(streams[setting], None)
        if facility is None:
            del streams[setting]
            continue
        taken[setting] += 1
        yield facility


def facility_program(facility, rng, used_names):
    """A program payload from a facility's import fields; a name already used gets the city (then a site number)."""
    fields = facility.fields
    name = fields["name"]
    if name in used_names:
        name = "%s (%s)" % (name[:150], fields["city"] or fields["zip"])
        base, site = name, 2
        while name in used_names:
            name, site = "%s (site %d)" % (base[:180], site), site + 1
    used_names.add(name)
    payers = [payer for payer in fields["payers"] if payer != "private-insurance"]
    # The files say only "private insurance": the demo's made-up commercial plans stand for it.
    if "private-insurance" in fields["payers"]:
        payers.extend(commercial_payers(rng))
    return {
        "name": name,
        "zip": fields["zip"],
        "state": fields["state"],
        "phone": fields["phone"],
        "services": fields["services"],
        "min_age": fields["min_age"],
        "max_age": fields["max_age"],
        "gender": fields["gender"],
        "languages": fields["languages"],
        "interpreter_services": fields["interpreter_services"],
        "payers": sorted(payers),
        "self_pay": fields["self_pay"],
        "mat": fields["mat"] and "substance_use" in fields["services"],
        "accepts_from": accepts_from(rng),
        "telehealth_states": fields["telehealth_states"],
    }
