"""ICD-10-CM search for the referral form: billable codes by code prefix or by words of their description."""

import functools

from transitions.core import codes


@functools.cache
def _billable():
    """(code, description, lower-cased description) for every billable code, built once per process (about 1 s)."""
    import simple_icd_10_cm as icd

    rows = []
    # Leaf codes are the billable ones: the same test codes.icd10_problem applies to a submitted code.
    for code in icd.get_all_codes(True):
        if icd.is_leaf(code):
            description = icd.get_description(code)
            rows.append((code, description, description.casefold()))
    return tuple(rows)


def search(query, limit=20):
    """Codes starting with the query (F33, f331), else codes whose description has every word; F codes first."""
    query = (query or "").strip()[:100]
    if not query:
        return []
    rows = _billable()
    compact = query.upper().replace(".", "")
    found = []
    if codes.normalize_icd10(query) is not None or (
        len(compact) <= 7 and compact[:1].isalpha() and compact[1:2].isdigit()
    ):
        found = [row for row in rows if row[0].replace(".", "").startswith(compact)]
    if not found:
        words = query.casefold().split()
        found = [row for row in rows if all(word in row[2] for word in words)]
        # Mental and behavioural disorders (chapter F) are what discharge referrals mostly carry.
        found.sort(key=lambda row: (not row[0].startswith("F"), row[0]))
    return [{"code": code, "description": description} for code, description, _ in found[:limit]]
