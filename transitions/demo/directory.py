"""The demo directory plan: which programs and tracks to create, validated by the API's own schemas (no database)."""

from marshmallow import ValidationError

from transitions.core import codes
from transitions.demo.generator import generated_program, weekly_tracks
from transitions.demo.samhsa import demo_facilities, facility_program, samhsa_path, samhsa_paths
from transitions.directory.schemas import ProgramInSchema, TrackInSchema

PROVIDER_NETWORKS = (
    ("Northstar Behavioral Health", 30),
    ("Harborlight Recovery Network", 25),
    ("Prairie Path Health Partners", 20),
    ("Summit Ridge Outpatient Services", 15),
    ("Clearwater Care Collaborative", 10),
)


def plan_directory(program_count, rng, data_dir=None):
    """Validated program and track payloads with their provider network; the same rng state gives the same plan.

    Returns {"source", "data_path", "skipped_facilities", "programs": [{"provider", "program", "tracks"}]}.
    """
    paths = samhsa_paths(data_dir)
    planned, skipped, used_names = [], 0, set()
    if paths:
        facilities, skipped = demo_facilities(paths, rng)
        for facility in facilities:
            if len(planned) >= program_count:
                break
            entry = _validated(facility_program(facility, rng, used_names), facility.timezone, facility.telehealth, rng)
            if entry is None:
                skipped += 1
            else:
                planned.append(entry)
    # Without the data folder, or when it runs out, made-up programs at real ZIP codes fill the directory.
    while len(planned) < program_count:
        program, telehealth = generated_program(rng, used_names)
        timezone = codes.zip_location(program["zip"])[3]
        planned.append(_validated(program, timezone, telehealth, rng, strict=True))
    return {
        "source": "samhsa" if paths else "generator",
        "data_path": samhsa_path(data_dir),
        "skipped_facilities": skipped,
        "programs": planned,
    }


_PROGRAM_SCHEMA = ProgramInSchema()
_TRACK_SCHEMA = TrackInSchema()


def _validated(program, timezone, telehealth, rng, strict=False):
    """Run the payloads through the API's own schemas, so seeded rows obey every rule an API client meets.

    Real directory rows that fail (odd names, phones) are skipped (None); built-in ones must pass (strict).
    """
    provider = rng.choices([name for name, _ in PROVIDER_NETWORKS], weights=[w for _, w in PROVIDER_NETWORKS])[0]
    tracks = weekly_tracks(timezone, telehealth, rng, program["services"])
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
