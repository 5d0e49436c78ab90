"""The demo's referrals: the same patients every time, so a demo script can tell a story."""

import json
from importlib import resources

from transitions.demo.generator import week

EVENINGS_MON_THU = week(("mon", "tue", "wed", "thu"), "17:00", "22:00")
WEEKDAY_MORNINGS = week(("mon", "tue", "wed", "thu", "fri"), "08:00", "13:00")
WEEKDAYS_UNTIL_5 = week(("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00")
# stories.json names a story's weekly availability by one of these keys (or null: any time).
AVAILABILITIES = {
    "evenings_mon_thu": EVENINGS_MON_THU,
    "weekday_mornings": WEEKDAY_MORNINGS,
    "weekdays_until_5": WEEKDAYS_UNTIL_5,
}


def load_stories(name="stories.json"):
    """The stories in the demo package's data file, one dict a referral, availability resolved to its windows.

    Dates in a story are offsets from today() ("discharge_in_days", "consent": [signed, expires] in days), so the
    dates move with the demo. Two stories carry the demo's plot: Tamika Brooks was discharged three days ago and is
    still without a seat, so on the demo's first day the follow-up sweep finds her intake check missed and the case
    manager's board has someone to call; Emily Chen has no Part 2 consent yet, a referral that can be matched but
    not offered.
    """
    stories = json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
    for story in stories:
        if story["availability"] is not None:
            story["availability"] = AVAILABILITIES[story["availability"]]
    return tuple(stories)


REFERRAL_STORIES = load_stories()
