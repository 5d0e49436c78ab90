"""Made-up IOP programs at real ZIP codes, and the weekly tracks every demo program gets."""

from transitions.core import codes
from transitions.directory.models import ORIGINS, WEEKDAYS

COMMERCIAL_PAYERS = (("acme-health", 0.75), ("blue-horizon", 0.6), ("cascade-mutual", 0.3))

# ---------------------------------------------------------------- built-in directory (no data folder)

# Real ZIP codes (all resolve with codes.zip_location) with their city and area code, for made-up programs.
FALLBACK_SITES = (
    ("60614", "Chicago", "773"),
    ("60640", "Chicago", "773"),
    ("60608", "Chicago", "312"),
    ("60201", "Evanston", "847"),
    ("60302", "Oak Park", "708"),
    ("60540", "Naperville", "630"),
    ("77004", "Houston", "713"),
    ("77030", "Houston", "713"),
    ("77379", "Spring", "281"),
    ("77550", "Galveston", "409"),
    ("78701", "Austin", "512"),
    ("90012", "Los Angeles", "213"),
    ("90401", "Santa Monica", "310"),
    ("91101", "Pasadena", "626"),
    ("90802", "Long Beach", "562"),
    ("94110", "San Francisco", "415"),
    ("19104", "Philadelphia", "215"),
    ("19147", "Philadelphia", "215"),
    ("19003", "Ardmore", "610"),
    ("19380", "West Chester", "610"),
    ("15213", "Pittsburgh", "412"),
    ("10027", "New York", "212"),
    ("11201", "Brooklyn", "718"),
    ("10451", "Bronx", "718"),
    ("10601", "White Plains", "914"),
    ("14604", "Rochester", "585"),
    ("33136", "Miami", "305"),
    ("33301", "Fort Lauderdale", "954"),
    ("32801", "Orlando", "407"),
    ("33602", "Tampa", "813"),
    ("32204", "Jacksonville", "904"),
    ("43215", "Columbus", "614"),
    ("44113", "Cleveland", "216"),
    ("44106", "Cleveland", "216"),
    ("45202", "Cincinnati", "513"),
    ("43604", "Toledo", "419"),
    ("98101", "Seattle", "206"),
    ("98122", "Seattle", "206"),
    ("98004", "Bellevue", "425"),
    ("98402", "Tacoma", "253"),
    ("99201", "Spokane", "509"),
)
NAME_PREFIXES = (
    "Lakeview",
    "Riverbend",
    "Oakwood",
    "Cedar Grove",
    "Harbor Light",
    "Summit",
    "Willow Creek",
    "Pinecrest",
    "Brightwater",
    "New Horizons",
    "Stillwater",
    "Maple Ridge",
    "Northfield",
    "Clear Path",
    "Beacon",
    "Crossroads",
    "Hope Springs",
    "Meadowbrook",
    "Silver Lake",
    "Evergreen",
    "Bridgeway",
    "Lighthouse",
    "Open Door",
    "Turning Point",
)
NAME_SUFFIXES = (
    "Behavioral Health",
    "Recovery Center",
    "Counseling Center",
    "Wellness Center",
    "Treatment Services",
    "Outpatient Clinic",
    "Health Partners",
    "Family Services",
)
OTHER_LANGUAGES = ("zh", "vi", "ru", "pl", "ko", "tl", "ar", "ht")
# (min_age, max_age) and how common each is among IOPs: most are adult programs, a few adolescent or senior.
FALLBACK_AGE_RANGES = (((18, 64), 35), ((18, 120), 40), ((26, 120), 10), ((13, 17), 10), ((65, 120), 5))

# ---------------------------------------------------------------- weekly schedules


def week(days, start, end):
    """Weekly windows: the same hours on each of these days."""
    return [{"day": day, "start": start, "end": end} for day in days]


MORNING_SCHEDULES = (
    week(("mon", "tue", "thu"), "09:00", "12:00"),
    week(("mon", "tue", "wed", "thu", "fri"), "09:00", "12:00"),
    week(("mon", "wed", "fri"), "09:30", "12:30"),
    week(("mon", "tue", "wed", "thu"), "10:00", "13:00"),
)
AFTERNOON_SCHEDULES = (
    week(("mon", "tue", "wed", "thu"), "13:00", "16:00"),
    week(("tue", "wed", "thu"), "13:30", "16:30"),
)
EVENING_SCHEDULES = (
    week(("mon", "wed", "thu"), "18:00", "21:00"),
    week(("mon", "tue", "wed", "thu"), "17:30", "20:30"),
    week(("tue", "wed", "thu"), "18:00", "21:00"),
    week(("mon", "tue", "thu"), "17:00", "20:00"),
)
# For people who work weekdays and cannot make three evenings.
WEEKEND_SCHEDULE = week(("tue", "thu"), "18:00", "21:00") + week(("sat",), "09:00", "12:00")


def commercial_payers(rng):
    chosen = [payer for payer, share in COMMERCIAL_PAYERS if rng.random() < share]
    return chosen or [COMMERCIAL_PAYERS[0][0]]


def accepts_from(rng):
    roll = rng.random()
    if roll < 0.7:
        return list(ORIGINS)
    return ["inpatient_psych"] if roll < 0.9 else ["residential"]


def generated_program(rng, used_names):
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
    ((min_age, max_age),) = rng.choices(
        [ages for ages, _ in FALLBACK_AGE_RANGES], weights=[weight for _, weight in FALLBACK_AGE_RANGES]
    )
    languages = ["en"]
    if rng.random() < 0.4:
        languages.append("es")
    if rng.random() < 0.1:
        languages.append(rng.choice(OTHER_LANGUAGES))
    public_payers = (("medicaid-%s" % state.lower(), 0.8), ("medicare", 0.5))
    payers = [payer for payer, share in public_payers if rng.random() < share]
    payers += commercial_payers(rng)
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
        "accepts_from": accepts_from(rng),
        "telehealth_states": [state] if telehealth else [],
    }, telehealth


# A track's name says what its groups treat, so a depression referral never sees an addictions group as its match.
TRACK_FOCUS = (
    ({"mental_health", "substance_use"}, "dual diagnosis"),
    ({"mental_health"}, "mental health"),
    ({"substance_use"}, "recovery"),
    ({"co_occurring"}, "dual diagnosis"),
)


def track_focus(services):
    """The words a track's name uses for what its program treats."""
    return next((focus for needed, focus in TRACK_FOCUS if needed <= set(services)), "outpatient")


def weekly_tracks(timezone, telehealth, rng, services=()):
    """1-3 weekly tracks: mornings and evenings so people can keep working, some by telehealth."""
    focus = track_focus(services)
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
            name, sessions = "Morning %s IOP" % focus, rng.choice(MORNING_SCHEDULES)
        elif kind == "afternoon":
            name, sessions = "Afternoon %s IOP" % focus, rng.choice(AFTERNOON_SCHEDULES)
        elif kind == "weekend":
            name, sessions = "Evening and Saturday %s IOP" % focus, WEEKEND_SCHEDULE
        elif kind == "evening":
            name, sessions = "Evening %s IOP" % focus, rng.choice(EVENING_SCHEDULES)
        else:
            name, sessions, modality = "Telehealth evening %s IOP" % focus, rng.choice(EVENING_SCHEDULES), "telehealth"
        track = {
            "name": name,
            "modality": modality,
            "timezone": timezone,
            "sessions": [dict(s) for s in sessions],
            "capacity": rng.randint(6, 15),
        }
        # Many IOPs admit new patients only on the first group day of the week.
        if rng.random() < 0.35:
            track["intake_days"] = [min((s["day"] for s in sessions), key=WEEKDAYS.index)]
        tracks.append(track)
    return tracks
