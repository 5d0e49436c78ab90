"""Searchset Bundles: the search parameters each search takes, _count and _offset paging, total and next links."""

from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import func, select

from transitions.core.db import db
from transitions.fhir.outcome import FhirInvalid

# Parameters every search takes besides its own: FHIR's paging, and _format (JSON is all this service speaks).
COMMON = ("_count", "_offset", "_format")
MAX_OFFSET = 100_000


def params(allowed):
    """The query's parameters, each given once; an unknown parameter is a 400 (a typo must not list everything)."""
    found = {}
    for name in request.args:
        if name not in allowed and name not in COMMON:
            raise FhirInvalid(
                [(name, "Unknown search parameter %s; this search takes: %s." % (name, ", ".join(allowed)))], 400
            )
        values = request.args.getlist(name)
        if len(values) != 1:
            raise FhirInvalid([(name, "Give %s once." % name)], 400)
        found[name] = values[0]
    fmt = found.pop("_format", "json")
    if fmt not in ("json", "application/json", "application/fhir+json"):
        raise FhirInvalid([("_format", "This service speaks FHIR JSON only.")], 415)
    return found


def paging(found):
    """(count, offset) from _count (default and maximum as the API's limit) and _offset."""
    count = _integer(found.get("_count"), "_count", current_app.config["PAGE_SIZE_DEFAULT"], 1)
    offset = _integer(found.get("_offset"), "_offset", 0, 0)
    return min(count, current_app.config["PAGE_SIZE_MAX"]), min(offset, MAX_OFFSET)


def _integer(text, name, default, least):
    if text is None:
        return default
    if not text.isdigit() or int(text) < least:
        raise FhirInvalid([(name, "%s is a whole number of at least %d." % (name, least))], 400)
    return int(text)


def page_of(query, order, count, offset):
    """(rows of one page, total) of a select ordered by order."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.order_by(*order).offset(offset).limit(count)).all() if offset < total else []
    return rows, total


def bundle(resources, total, count, offset):
    """A searchset Bundle with self and (when there is more) next links."""
    links = [{"relation": "self", "url": request.url}]
    if offset + count < total:
        query = request.args.to_dict()
        query.update({"_count": str(count), "_offset": str(offset + count)})
        links.append({"relation": "next", "url": "%s?%s" % (request.base_url, urlencode(query))})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": "%s/%s/%s" % (_base(), r["resourceType"], r["id"]), "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def _base():
    return request.host_url.rstrip("/") + "/fhir/r4"


def reference_id(value, kind, name):
    """The id in a reference search value (Kind/id, or a bare id)."""
    if "/" in value:
        prefix, _, value = value.rpartition("/")
        if prefix.rsplit("/", 1)[-1] != kind:
            raise FhirInvalid([(name, "%s takes a %s reference." % (name, kind))], 400)
    return value
