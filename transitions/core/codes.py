"""Reference code sets (ICD-10-CM, ZIP centroids, ISO 639-1, IANA zones, US states), loaded once per process."""

import functools
import re
import zoneinfo

_ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def normalize_icd10(code):
    """Upper-case and dotted (F32.9), the form clinicians read; None if the shape is wrong."""
    if not isinstance(code, str):
        return None
    compact = code.strip().upper().replace(".", "")
    if not _ICD_SHAPE.match(compact):
        return None
    return compact if len(compact) == 3 else compact[:3] + "." + compact[3:]


@functools.cache
def _icd():
    import simple_icd_10_cm

    return simple_icd_10_cm


def icd10_problem(code):
    """None when the code is a billable ICD-10-CM code, else why not."""
    normalized = normalize_icd10(code)
    if normalized is None:
        return "not an ICD-10-CM code"
    icd = _icd()
    if not icd.is_valid_item(normalized):
        return "unknown ICD-10-CM code"
    if not icd.is_leaf(normalized):
        return "not billable: use a more specific code"
    return None


def icd10_description(code):
    try:
        return _icd().get_description(code)
    except ValueError:
        return None


@functools.cache
def _zip_index():
    import zipcodes

    index = {}
    for row in zipcodes.list_all():
        if row.get("lat") in (None, "") or row.get("long") in (None, ""):
            continue
        index[row["zip_code"]] = (float(row["lat"]), float(row["long"]), row["state"], row.get("timezone"))
    return index


def zip_location(zip_code):
    """(latitude, longitude, state, timezone) of a US ZIP's centroid, or None if unknown."""
    return _zip_index().get(zip_code)


def known_zip_codes():
    return _zip_index().keys()


@functools.cache
def us_states():
    return frozenset(state for _, _, state, _ in _zip_index().values())


@functools.cache
def iso639_1_codes():
    import pycountry

    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@functools.cache
def iana_timezones():
    return frozenset(zoneinfo.available_timezones())


def warm():
    """Load every code set now, so the first request does not pay for it."""
    _icd().is_valid_item("F32.9")
    _zip_index()
    us_states()
    iso639_1_codes()
    iana_timezones()
