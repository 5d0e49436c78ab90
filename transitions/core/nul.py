"""NUL refusal: PostgreSQL text cannot hold the NUL character, so a value carrying one is refused before any query.

One rule for every entry: the API's request check, the list cursor decoder, the id lookups and the schemas' fields.
"""

import re

MESSAGE = "NUL characters are not allowed."
# A JSON \u0000 escape: an odd number of backslashes before u0000 (an even number is literal text).
ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def has_nul(value):
    """True when a string holds a NUL character (anything that is not a string holds none)."""
    return isinstance(value, str) and "\x00" in value


def without_nul(value):
    """A string with its NUL characters dropped, for records that must keep the rest of what was asked."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def json_has_nul(body):
    """True when a raw JSON body holds a NUL byte or a \\u0000 escape that decodes to one."""
    return b"\x00" in body or ESCAPED_NUL.search(body) is not None


def looks_like_id(value):
    """A value that can name a row: a string of 1 to 36 characters without NUL (anything else names nothing)."""
    return isinstance(value, str) and 0 < len(value) <= 36 and not has_nul(value)
