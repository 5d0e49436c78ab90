"""Text the database cannot hold: NUL characters (PostgreSQL text refuses them) and lone surrogates (no encoding
can write them), refused before any query.

One rule for every entry: the API's request check, the list cursor decoder, the id lookups and the schemas' fields.
"""

import re

MESSAGE = "NUL characters are not allowed."
SURROGATE_MESSAGE = "Invalid Unicode: lone surrogates (\\ud800-\\udfff without their pair) are not allowed."
# A decoder joins a valid pair (\ud83d\ude00) into one character, so any surrogate left in a str is a lone one.
SURROGATE = re.compile("[\ud800-\udfff]")


def has_nul(value):
    """True when a string holds a NUL character (anything that is not a string holds none)."""
    return isinstance(value, str) and "\x00" in value


def has_lone_surrogate(value):
    """True when a string holds a surrogate code point, which UTF-8 (and so the database) cannot encode."""
    return isinstance(value, str) and SURROGATE.search(value) is not None


def text_problem(value):
    """Why a string cannot be stored as text (the message to answer with), or None when it can."""
    if has_nul(value):
        return MESSAGE
    if has_lone_surrogate(value):
        return SURROGATE_MESSAGE
    return None


def without_nul(value):
    """A string with its NUL characters dropped, for records that must keep the rest of what was asked."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def looks_like_id(value):
    """A value that can name a row: a string of 1 to 36 characters the database can hold (anything else names
    nothing)."""
    return isinstance(value, str) and 0 < len(value) <= 36 and text_problem(value) is None
