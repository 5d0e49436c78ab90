"""What a track and a referral are to the matching rules: plain, frozen facts detached from the ORM, built from
model rows or from Core rows through one column map, and the Evaluation the rules return."""

from dataclasses import dataclass, field
from datetime import date, datetime

from transitions.matching.schedule import availability_intervals

DEFAULT_TRAVEL_MILES = 25.0


@dataclass(frozen=True)
class TrackFacts:
    """What the rules need to know about a track and its program, detached from the ORM."""

    track_id: str
    program_id: str
    program_name: str
    track_name: str
    modality: str
    timezone: str
    sessions: tuple  # ((day, "HH:MM", "HH:MM"), ...)
    intake_days: frozenset
    hours_per_week: float
    open_seats: int
    active: bool
    services: frozenset
    mat: bool
    min_age: int
    max_age: int
    gender: str
    languages: frozenset
    interpreter_services: bool
    payers: frozenset
    self_pay: bool
    accepts_from: frozenset
    telehealth_states: frozenset
    latitude: float
    longitude: float
    # When a coordinator last confirmed the seat count (None: never); stale counts rank below confirmed ones.
    seats_confirmed_at: datetime | None = None

    @classmethod
    def from_stored(cls, values, read_json_set, read_sessions):
        """TrackFacts from the stored values, a mapping by stored_name(): an ORM pair's (stored_values) or a Core
        row's (screening selects them by the same names). The JSON lists come as read_json_set and read_sessions
        take them: already parsed, or as JSON text."""
        facts = {name: values[name] for name in PLAIN_FACTS}
        facts.update((name, read_json_set(values[name])) for name in JSON_SET_VALUES)
        return cls(
            **facts,
            sessions=read_sessions(values["sessions"]),
            open_seats=values["capacity"] - values["occupied"] - values["held"],
            active=bool(values["track_active"] and values["program_active"]),
        )

    @classmethod
    def from_rows(cls, track, program):
        """TrackFacts from the ORM pair: its counters as stored (held includes holds past expiry)."""
        return cls.from_stored(stored_values(track, program), frozenset, sessions_tuple)


# The stored values TrackFacts are made from, by model. Both models have an id, a name and an active flag: those
# values are named after their model ("track_id", "program_name" ...), the others after their attribute.
STORED_ATTRIBUTES = {
    "track": ("id", "name", "active", "modality", "timezone", "sessions", "intake_days", "hours_per_week")
    + ("capacity", "occupied", "held", "seats_confirmed_at"),
    "program": ("id", "name", "active", "mat", "min_age", "max_age", "gender", "interpreter_services", "self_pay")
    + ("latitude", "longitude", "services", "languages", "payers", "accepts_from", "telehealth_states"),
}
MODEL_PREFIXED = ("id", "name", "active")
# Stored as JSON lists, facts as frozensets.
JSON_SET_VALUES = ("intake_days", "services", "languages", "payers", "accepts_from", "telehealth_states")
# The facts that are a stored value as it is.
PLAIN_FACTS = tuple(
    name
    for name in TrackFacts.__dataclass_fields__
    if name not in JSON_SET_VALUES and name not in ("sessions", "open_seats", "active")
)


def stored_name(model, attribute):
    """The name of a model's stored value in TrackFacts.from_stored's mapping."""
    return f"{model}_{attribute}" if attribute in MODEL_PREFIXED else attribute


def stored_values(track, program):
    """The stored values of an ORM (track, program) pair, by stored_name()."""
    rows = {"track": track, "program": program}
    return {
        stored_name(model, attribute): getattr(rows[model], attribute)
        for model, attributes in STORED_ATTRIBUTES.items()
        for attribute in attributes
    }


def sessions_tuple(sessions):
    """A track's weekly sessions as the rules take them: ((day, "HH:MM", "HH:MM"), ...)."""
    return tuple((s["day"], s["start"], s["end"]) for s in sessions)


@dataclass
class ReferralFacts:
    """A referral as the rules see it, as of one day, with its availability cached per week."""

    referral_id: str
    need: str
    needs_mat: bool
    birth_date: date
    gender: str
    language: str
    payer_id: str | None
    self_pay: bool
    origin: str
    modality: str
    max_travel_miles: float
    latitude: float
    longitude: float
    state: str
    timezone: str
    availability: tuple | None
    discharge_date: date
    earliest_start: date
    _windows: dict = field(default_factory=dict, repr=False)
    _fits: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_referral(cls, referral, as_of):
        travel = referral.max_travel_miles
        return cls(
            referral_id=referral.id,
            need=referral.need,
            needs_mat=referral.needs_mat,
            birth_date=referral.birth_date,
            gender=referral.gender,
            language=referral.language,
            payer_id=referral.payer_id,
            self_pay=referral.self_pay,
            origin=referral.origin,
            modality=referral.modality,
            max_travel_miles=DEFAULT_TRAVEL_MILES if travel is None else travel,
            latitude=referral.latitude,
            longitude=referral.longitude,
            state=referral.patient_state,
            timezone=referral.timezone,
            availability=None
            if referral.availability is None
            else tuple((w["day"], w["start"], w["end"]) for w in referral.availability),
            discharge_date=referral.discharge_date,
            earliest_start=max(referral.discharge_date, as_of),
        )

    def windows_for_week(self, week_start):
        """Merged availability intervals (UTC epoch seconds) around the week starting week_start."""
        if week_start not in self._windows:
            self._windows[week_start] = availability_intervals(self.timezone, self.availability, week_start)
        return self._windows[week_start]


@dataclass
class Evaluation:
    """The verdict of the rules on one (referral, track) pair."""

    ok: bool
    failed: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    first_intake_date: date | None = None
    distance_miles: float | None = None
    slack_minutes: float | None = None
    score: float = 0.0
    misses_7_day_target: bool = False
    track: TrackFacts | None = None
    # The track's seat count is older than the freshness limit: ranked after every confirmed match.
    seats_stale: bool = False
