"""Bad input of every kind to every endpoint the API has: a 4xx problem+json each time, nothing changed, the service
still answering.

The endpoints are read from the app's URL map (and their bodies and parameters from its OpenAPI document), so an
endpoint added tomorrow is in these tables the day it is added. Duplicate keys in a JSON object are refused (400),
not resolved last-wins: a client that sends two values meant one of them, and guessing which is how a filter or a
status slips past a check that read the other.
"""

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support import payloads
from tests.support.discharges import discharge_row
from tests.support.offers import Scene
from transitions.core.db import db
from transitions.core.errors import PROBLEM_MIME
from transitions.core.pagination import encode_cursor

ROLES = ("admin", "planner", "coordinator", "manager")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
EXTREME_DATES = ("0001-01-01", "9999-12-31")
EXTREME_TIMES = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00")
LONG_ID = "a" * 5000
RULE_PARAMETER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
# A refused request is still audited (as failed or denied): by design, the one row it may add.
UNCHANGED_TABLES_SKIP = {"audit_log"}


# ---------------------------------------------------------------- what the app has


def api_routes(app):
    """(method, OpenAPI path) of every route under /api/v1 but the document's own."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, RULE_PARAMETER.sub(r"{\1}", rule.rule)))
    return sorted(routes)


def path_parameters(path):
    return re.findall(r"{([^}]+)}", path)


class Document:
    """The app's OpenAPI document, read for request bodies and query parameters."""

    def __init__(self, doc):
        self.doc = doc
        self.schemas = doc["components"]["schemas"]

    def operation(self, method, path):
        return self.doc["paths"][path][method.lower()]

    def resolve(self, schema):
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def body_schema(self, method, path):
        body = self.operation(method, path).get("requestBody")
        return self.resolve(body["content"]["application/json"]["schema"]) if body else None

    def body_properties(self, method, path):
        schema = self.body_schema(method, path)
        return list(schema.get("properties", {})) if schema else []

    def date_fields(self, schema, prefix=()):
        """Paths (tuples of keys) to every date or date-time property of a body schema, nested objects included."""
        found = []
        for name, prop in self.resolve(schema).get("properties", {}).items():
            for option in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
                option = self.resolve(option)
                if option.get("format") in ("date", "date-time"):
                    found.append((prefix + (name,), option["format"]))
                elif "properties" in option:
                    found += self.date_fields(option, prefix + (name,))
        return sorted(set(found))

    def query_parameters(self, path):
        return {p["name"]: p["schema"] for p in self.operation("GET", path).get("parameters", []) if p["in"] == "query"}


# ---------------------------------------------------------------- the world the requests land in


class Objects:
    """Real objects for every path parameter, the acting role per endpoint, and the checks every answer passes."""

    def __init__(self, api, world, app, clock):
        self.api, self.world, self.app, self.clock = api, world, app, clock
        scene = Scene(api, world, app, clock)
        program = scene.program()
        track = scene.track(program)
        pending = scene.referral()
        offer = scene.offered(pending, track)
        placed = scene.referral()
        _, placement = scene.placed(placed, track)
        self.editable = scene.referral()
        followups = api.get("/api/v1/followups?limit=1", token=world.tokens["admin"])
        assert followups.status_code == 200 and followups.json["items"], followups.json
        webhook = api.post(
            "/api/v1/webhooks",
            {"url": "https://hooks.example.org/bad-input", "events": ["referral.submitted"]},
            token=world.tokens["manager"],
        )
        assert webhook.status_code == 201, webhook.json
        self.track, self.pending, self.placed, self.offer = track, pending, placed, offer
        self.intake_date = scene.intake_date(pending, track)
        self.ids = {
            "program_id": program["id"],
            "track_id": track["id"],
            "referral_id": pending["id"],
            "offer_id": offer["id"],
            "placement_id": placement["id"],
            "followup_id": followups.json["items"][0]["id"],
            "webhook_id": webhook.json["id"],
            "user_id": world.users["planner2"],
            "organization_id": world.orgs["hospital2"],
            "discharge_id": discharge_row(app, world.orgs["hospital"], clock.now.date()),
        }
        # Where an endpoint acts on a referral in another state than a pending offer's.
        self.overrides = {
            ("PATCH", "/api/v1/referrals/{referral_id}"): {"referral_id": self.editable["id"]},
            ("POST", "/api/v1/referrals/{referral_id}/readmission"): {"referral_id": placed["id"]},
        }
        self.document = Document(api.get("/api/v1/openapi.json").json)
        self._roles = {}

    def headers(self, role):
        return {"Authorization": "Bearer " + self.world.tokens[role]}

    def url(self, method, path, **values):
        ids = {**self.ids, **self.overrides.get((method, path), {}), **values}
        for name in path_parameters(path):
            assert name in ids, "a new path parameter {%s}: give this test a real object for it" % name
            path = path.replace("{%s}" % name, ids[name])
        return path

    def role_for(self, method, path):
        """The first role the endpoint admits (a 403 says it does not), found without changing anything: unknown ids
        and an unknown body field."""
        if (method, path) not in self._roles:
            fake = self.url(method, path, **{name: "no-such-id" for name in path_parameters(path)})
            for role in ROLES:
                response = self.api.client.open(fake, method=method, json={"__probe__": 1}, headers=self.headers(role))
                if response.status_code != 403:
                    self._roles[(method, path)] = role
                    break
            else:
                raise AssertionError("no role may %s %s" % (method, path))
        return self._roles[(method, path)]

    def send(self, method, url, role="admin", body=None, data=None, content_type="application/json"):
        if body is not None:
            data = json.dumps(body)
        return self.api.client.open(
            url, method=method, data=data, content_type=content_type, headers=self.headers(role)
        )

    def snapshot(self):
        """Every row of every table but the audit log."""
        with self.app.app_context():
            return {
                table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
                for table in db.metadata.sorted_tables
                if table.name not in UNCHANGED_TABLES_SKIP
            }

    def still_answering(self):
        response = self.api.get("/readyz")
        assert response.status_code == 200, response.get_data(as_text=True)


def problem(response, statuses):
    """None when the response is a problem+json with one of the statuses, else what is wrong with it."""
    if response.status_code not in statuses or response.mimetype != PROBLEM_MIME:
        return "%s %s" % (response.status_code, response.get_data(as_text=True)[:300])
    body = response.json
    if body.get("status") != response.status_code or not {"type", "title", "detail"} <= set(body):
        return "not a problem document: %s" % body
    return None


FOUR_XX = range(400, 500)


@pytest.fixture
def objects(api, world, app, clock):
    return Objects(api, world, app, clock)


# ---------------------------------------------------------------- the document and the URL map agree


def test_every_api_route_is_in_the_document(objects):
    """The tables below read the URL map and the document: they must name the same endpoints."""
    documented = {
        (method.upper(), path)
        for path, operations in objects.document.doc["paths"].items()
        for method in operations
        if path.startswith("/api/v1/") and method in ("get", "post", "put", "patch", "delete")
    }
    routes = set(api_routes(objects.app))
    assert routes == documented
    assert {method for method, _ in routes} >= {"GET", "POST", "PATCH"}
    assert len([r for r in routes if r[0] in WRITE_METHODS]) >= 20


# ---------------------------------------------------------------- bodies


def bad_bodies(fields, max_body):
    """(what, data, content type, status) for a body of an endpoint whose fields are `fields`."""
    fields = fields or ["note"]
    first = fields[0]
    return [
        ("a lone surrogate in every field", json.dumps({f: "x\ud800" for f in fields}), "application/json", 400),
        ("a lone low surrogate", json.dumps({first: "\udfff"}), "application/json", 400),
        ("a lone surrogate as a key", json.dumps({"\udc00": 1}), "application/json", 400),
        ("a lone surrogate in a list", json.dumps({first: ["ok", "\ud800"]}), "application/json", 400),
        ("a surrogate as raw UTF-8 bytes", b'{"%s": "\xed\xa0\x80"}' % first.encode(), "application/json", 400),
        ("NUL in every field", json.dumps({f: "x\u0000" for f in fields}), "application/json", 400),
        ("a raw NUL byte", b'{"%s": "x\x00"}' % first.encode(), "application/json", 400),
        ("1,000-deep arrays", "[" * 1000 + "]" * 1000, "application/json", 400),
        ("1,000-deep objects", '{"a":' * 1000 + "1" + "}" * 1000, "application/json", 400),
        ("100,000-deep arrays", "[" * 100_000 + "]" * 100_000, "application/json", 400),
        ("65 levels", json.dumps({first: json.loads("[" * 64 + "]" * 64)}), "application/json", 400),
        ("over the size limit", json.dumps({first: "x" * max_body}), "application/json", 413),
        ("text/plain", json.dumps({first: "x"}), "text/plain", 415),
        ("a form", "%s=x" % first, "application/x-www-form-urlencoded", 415),
        ("no content type", json.dumps({first: "x"}), None, 415),
        ("duplicate keys", '{"%s": "a", "%s": "b"}' % (first, first), "application/json", 400),
        ("duplicate keys, nested", '{"%s": {"k": 1, "k": 1}}' % first, "application/json", 400),
        ("not JSON", "{%s: x" % first, "application/json", 400),
        ("NaN", '{"%s": NaN}' % first, "application/json", 400),
        ("a number past any float", '{"%s": 1e400}' % first, "application/json", 400),
        ("not UTF-8", b'{"%s": "\xff\xfe"}' % first.encode(), "application/json", 400),
    ]


def test_every_write_endpoint_refuses_bad_bodies_and_changes_nothing(objects):
    before = objects.snapshot()
    max_body = objects.app.config["MAX_CONTENT_LENGTH"]
    failures = []
    writes = [(m, p) for m, p in api_routes(objects.app) if m in WRITE_METHODS]
    for method, path in writes:
        url = objects.url(method, path)
        for what, data, content_type, status in bad_bodies(objects.document.body_properties(method, path), max_body):
            response = objects.send(method, url, data=data, content_type=content_type)
            # The HL7 feed takes application/hl7-v2 only: each JSON body here is the wrong media type (or too big).
            wrong = problem(response, {415, 413} if path == "/api/v1/adt" else {status})
            if wrong:
                failures.append("%s %s, %s: %s" % (method, path, what, wrong))
        objects.still_answering()
    assert not failures, "\n".join(failures)
    assert objects.snapshot() == before


def wrong_json_types(prop):
    """Values of another JSON type than a boolean, integer or number property's, which marshmallow would convert."""
    kind = prop.get("type")
    if kind == "boolean":
        return [0, 1, "true", "yes", "on"]
    if kind in ("integer", "number"):
        return ["5", True, False]
    return []


def test_booleans_and_numbers_must_be_json_booleans_and_numbers(objects):
    """A JSON body means its types, as the document states them: 0 is not false, "5" is not 5, true is not 1."""
    before = objects.snapshot()
    failures, tried = [], 0
    for method, path in api_routes(objects.app):
        schema = objects.document.body_schema(method, path) if method in WRITE_METHODS else None
        if schema is None:
            continue
        role = objects.role_for(method, path)
        for name, prop in schema.get("properties", {}).items():
            for value in wrong_json_types(objects.document.resolve(prop)):
                response = objects.send(method, objects.url(method, path), role, body={name: value})
                tried += 1
                wrong = problem(response, {422}) or (name not in (response.json.get("errors") or {}) and "not named")
                if wrong:
                    failures.append("%s %s with %s=%r: %s" % (method, path, name, value, wrong))
    objects.still_answering()
    assert not failures, "\n".join(failures)
    assert tried >= 50
    assert objects.snapshot() == before


# ---------------------------------------------------------------- ids and dates


CONTROLLED = [
    ("POST", "/api/v1/referrals"),
    ("PATCH", "/api/v1/referrals/{referral_id}"),
    ("POST", "/api/v1/offers/{offer_id}/accept"),
]


def valid_bodies(objects):
    """A body each date-taking endpoint would accept, to spoil one date at a time (a new endpoint starts from {})."""
    today = objects.clock.now.date()

    def referral(name):
        return payloads.referral(
            patient={"given_name": name},  # two patients: a create is not refused as the edited one's duplicate
            need="co_occurring",
            diagnoses=["F33.1", "F10.20"],
            discharge_date=(today + timedelta(days=2)).isoformat(),
            part2_consent={"signed_on": (today - timedelta(days=3)).isoformat(), "expires_on": None},
        )

    return {
        ("POST", "/api/v1/referrals"): referral("Created"),
        ("PATCH", "/api/v1/referrals/{referral_id}"): referral("Edited"),
        ("POST", "/api/v1/offers/{offer_id}/accept"): {"intake_date": objects.intake_date},
        ("POST", "/api/v1/placements/{placement_id}/attendance"): {"date": today.isoformat(), "status": "attended"},
        ("POST", "/api/v1/referrals/{referral_id}/readmission"): {"date": today.isoformat(), "facility": "County"},
    }


def with_value(body, keys, value):
    body = json.loads(json.dumps(body))
    target = body
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value
    return body


def test_ids_of_5000_characters_are_404_or_refused(objects):
    before = objects.snapshot()
    failures = []
    for method, path in api_routes(objects.app):
        names = path_parameters(path)
        role = objects.role_for(method, path)
        for name in names:
            response = objects.send(method, objects.url(method, path, **{name: LONG_ID}), role, body={})
            # A GET answers 404; a write may find its (empty) body invalid before it looks the id up.
            wrong = problem(response, {404} if method == "GET" else FOUR_XX)
            if wrong:
                failures.append("%s %s with a long {%s}: %s" % (method, path, name, wrong))
        if method in WRITE_METHODS:
            for field in objects.document.body_properties(method, path):
                if field.endswith("_id") or field.endswith("_ids"):
                    value = [LONG_ID] if field.endswith("_ids") else LONG_ID
                    response = objects.send(method, objects.url(method, path), role, body={field: value})
                    wrong = problem(response, FOUR_XX)
                    if wrong:
                        failures.append("%s %s with a long %s: %s" % (method, path, field, wrong))
    objects.still_answering()
    assert not failures, "\n".join(failures)
    assert objects.snapshot() == before


def test_dates_of_year_1_and_year_9999_are_refused(objects):
    before = objects.snapshot()
    bodies = valid_bodies(objects)
    failures, tried = [], 0
    for method, path in api_routes(objects.app):
        schema = objects.document.body_schema(method, path) if method in WRITE_METHODS else None
        if schema is None:
            continue
        role = objects.role_for(method, path)
        for keys, kind in objects.document.date_fields(schema):
            for day in EXTREME_DATES:
                value = day if kind == "date" else day + "T12:00:00Z"
                body = with_value(bodies.get((method, path), {}), keys, value)
                response = objects.send(method, objects.url(method, path), role, body=body)
                tried += 1
                # Refused, and for the date: not for another field of the body, nor as a duplicate patient.
                wrong = problem(response, FOUR_XX) or (keys[-1] not in response.get_data(as_text=True) and "date")
                if wrong:
                    failures.append("%s %s with %s=%s: %s" % (method, path, ".".join(keys), value, wrong))
    objects.still_answering()
    assert not failures, "\n".join(failures)
    assert tried >= 16  # birth, discharge and consent dates, twice; intake, attendance and readmission days
    assert objects.snapshot() == before
    # The control: unspoiled, the referral and acceptance bodies go through, so their refusals above were the
    # dates' (the attendance and readmission days are checked against a session and a discharge anyway).
    for method, path in CONTROLLED:
        response = objects.send(
            method, objects.url(method, path), objects.role_for(method, path), body=bodies[method, path]
        )
        assert response.status_code in (200, 201), (method, path, response.json)


def test_list_filters_with_extreme_dates_are_never_a_server_error(objects):
    failures = []
    for method, path in api_routes(objects.app):
        if method != "GET":
            continue
        role = objects.role_for(method, path)
        for name, schema in objects.document.query_parameters(path).items():
            values = {"date": EXTREME_DATES, "date-time": EXTREME_TIMES}.get(schema.get("format"), ())
            for value in values:
                response = objects.api.client.get(
                    objects.url(method, path), query_string={name: value}, headers=objects.headers(role)
                )
                if response.status_code >= 500 or (response.status_code >= 400 and problem(response, FOUR_XX)):
                    failures.append("GET %s?%s=%s: %s" % (path, name, value, response.status_code))
    objects.still_answering()
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- cursors


def b64(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def malformed_cursors(app, real):
    """Every shape of a cursor this service never wrote: unsigned, tampered, and signed values of the wrong kind."""
    now = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    forged_values = [
        [],
        [now],
        [now, "x", "y"],
        {"a": 1},
        None,
        "text",
        [5, "x"],
        [True, "x"],
        [{"a": 1}, "x"],
        [[now], "x"],
        [now, 5],
        [now, None],
        [now, 2**64],
        [2**63, "x"],
        [2**64],
        [-(2**63) - 1],
        [1.5],
        ["x"],
        [now, "x" * 5000],
        [now, "a\u0000b"],
        [now, "\ud800"],
        ["9999-12-31T23:59:59-05:00", "x"],
        ["0001-01-01T00:00:00+05:00", "x"],
        ["2026-12-01T00:00:00", "x"],
        ["2026-13-01T00:00:00+00:00", "x"],
        ["9999-12-31", "x"],
    ]
    with app.app_context():
        signed = [encode_cursor(v) if isinstance(v, list) else None for v in forged_values]
    payload, _, signature = real.partition(".")
    unsigned = [b64(json.dumps(v).encode()) for v in forged_values]
    return [
        *[("signed %r" % (v,), c) for v, c in zip(forged_values, signed, strict=True) if c],
        *[("unsigned %r" % (v,), c) for v, c in zip(forged_values, unsigned, strict=True)],
        ("NUL inside the base64", b64(b'["2026-12-01T00:00:00+00:00", "a\x00"]') + "." + signature),
        ("NUL escape inside the base64", b64(b'["2026-12-01T00:00:00+00:00", "a\\u0000"]') + "." + signature),
        ("a real payload, another signature", payload + "." + signature[::-1]),
        ("a real signature, another payload", b64(b'["2026-12-01T00:00:00+00:00","z"]') + "." + signature),
        ("unpadded garbage", "!!!"),
        ("base64 of nothing", "."),
        ("no signature", payload),
        ("two dots", real + ".x"),
        ("a NUL", "%00"),
        ("a percent-encoded surrogate", "%ED%A0%80"),
        ("5,000 characters", "A" * 5000),
        ("5,000 characters, dotted", "A" * 2500 + "." + "A" * 2499),
        ("not base64", "@@@.@@@"),
        ("invalid base64 length", "A.B"),
    ]


def test_every_list_refuses_every_malformed_cursor(objects):
    lists = [
        (method, path)
        for method, path in api_routes(objects.app)
        if method == "GET" and "cursor" in objects.document.query_parameters(path)
    ]
    assert len(lists) >= 12
    failures = []
    real_cursor = None
    for method, path in lists:
        role = objects.role_for(method, path)
        url = objects.url(method, path)
        first = objects.api.get(url + "?limit=1", headers=objects.headers(role))
        assert first.status_code == 200, (path, role, first.json)
        real_cursor = real_cursor or first.json["next_cursor"]
    assert real_cursor, "no list had a second page to take a real cursor from"
    cursors = malformed_cursors(objects.app, real_cursor)
    for method, path in lists:
        role = objects.role_for(method, path)
        url = objects.url(method, path)
        for what, cursor in cursors:
            response = objects.api.get(url + "?cursor=" + cursor, headers=objects.headers(role))
            wrong = problem(response, {400})
            if wrong:
                failures.append("GET %s, %s: %s" % (path, what, wrong))
        objects.still_answering()
    assert not failures, "\n".join(failures)


def test_a_returned_cursor_still_pages(objects):
    """The signature is the list's own: what a page returns, the next request takes."""
    token = objects.world.tokens["admin"]
    seen, cursor = [], ""
    while True:
        page = objects.api.get("/api/v1/audit?limit=3&cursor=" + cursor, token=token)
        assert page.status_code == 200, page.json
        seen += [item["id"] for item in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) > 6
