"""Time-zone-true schedule fit: a track's sessions and a patient's availability windows placed on the real dates of
one week (so DST and cross-zone telehealth come out right), and the first intake date on or after a day."""

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from transitions.core.clock import minutes_of_day
from transitions.directory.models import WEEKDAYS


def _local_instant(day, hhmm, zone):
    """Epoch seconds of a local wall time; 24:00 is the next midnight."""
    minutes = minutes_of_day(hhmm)
    if minutes == 1440:
        moment = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    else:
        moment = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return moment.timestamp()


@lru_cache(maxsize=65536)
def _session_intervals(timezone, sessions, week_start):
    """Each session of a weekly schedule as (start, end) epoch seconds in the week from week_start."""
    zone = ZoneInfo(timezone)
    intervals = []
    for day, start, end in sessions:
        offset = (WEEKDAYS.index(day) - week_start.weekday()) % 7
        session_day = week_start + timedelta(days=offset)
        intervals.append((_local_instant(session_day, start, zone), _local_instant(session_day, end, zone)))
    return tuple(intervals)


def availability_intervals(timezone, windows, week_start):
    """Patient windows on the real dates around the week, joined where they touch (midnight splits)."""
    if windows is None:
        return None
    zone = ZoneInfo(timezone)
    spans = []
    # A day either side: a cross-zone session can land on the patient's previous or next date.
    for offset in range(-1, 9):
        day = week_start + timedelta(days=offset)
        name = WEEKDAYS[day.weekday()]
        for window_day, start, end in windows:
            if window_day == name:
                spans.append((_local_instant(day, start, zone), _local_instant(day, end, zone)))
    spans.sort()
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def schedule_fit(referral_facts, track_facts, week_start):
    """(fits, slack minutes): every session inside an availability window on the first intake week."""
    # Tracks share schedules (a directory has a few dozen distinct ones), so each is placed once per patient.
    key = track_facts.timezone, track_facts.sessions, week_start
    if key not in referral_facts._fits:
        referral_facts._fits[key] = _schedule_fit(referral_facts, track_facts, week_start)
    return referral_facts._fits[key]


def _schedule_fit(referral_facts, track_facts, week_start):
    windows = referral_facts.windows_for_week(week_start)
    if windows is None:
        return True, None
    slack = None
    for start, end in _session_intervals(track_facts.timezone, track_facts.sessions, week_start):
        enclosing = next((w for w in windows if w[0] <= start and end <= w[1]), None)
        if enclosing is None:
            return False, None
        margin = min(start - enclosing[0], enclosing[1] - end) / 60
        slack = margin if slack is None else min(slack, margin)
    return True, slack


@lru_cache(maxsize=4096)
def first_intake_date(earliest, intake_days):
    for offset in range(7):
        day = earliest + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] in intake_days:
            return day
    return None
