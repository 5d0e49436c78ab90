"""The JSON API: flask-smorest blueprints, the OpenAPI document and its local docs page."""

import json
import math
from urllib.parse import unquote_to_bytes

import swagger_ui_bundle
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow import resolver as class_name_resolver
from flask import g, request, send_from_directory
from flask_smorest import Api as SmorestApi
from webargs.core import is_json
from werkzeug.exceptions import RequestEntityTooLarge

from transitions.core import nul
from transitions.core.errors import PROBLEM_MIME, DomainError, http_exception_response
from transitions.core.fields import ProblemSchema

# The contract's limit: JSON nested deeper than this is a 400 (a view never sees it).
MAX_JSON_DEPTH = 64
_TOO_DEEP = "The JSON body nests deeper than %d levels." % MAX_JSON_DEPTH

ERROR_STATUSES = {
    "400": "Malformed request: not JSON, nested too deep, a repeated key, NUL or invalid Unicode, a bad cursor.",
    "401": "Missing or invalid bearer token.",
    "403": "Authenticated but not allowed.",
    "404": "No such object, or not yours to see.",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "415": "A request body that is not JSON.",
    "422": "Validation failed; see errors.",
}
BODY_METHODS = ("post", "put", "patch")
DESCRIPTION = (
    "Discharge referrals, IOP matching, offers, placements and follow-ups.\n\n"
    "Request bodies are JSON (`Content-Type: application/json`; a body of another type is a 415) of at most "
    "%(max_body)d bytes (413). A body that is not UTF-8 JSON, nests deeper than %(max_depth)d levels, repeats a key "
    "within one object (refused rather than guessing which value was meant), or holds a NUL character or a lone "
    "surrogate (\\ud800-\\udfff without its pair) is a 400, as is a path or query string that is not UTF-8 or "
    "holds NUL, and a list cursor that is not a next_cursor this service returned. Errors are "
    "`application/problem+json` (RFC 9457)."
)


class Api(SmorestApi):
    """flask-smorest's Api, answering every HTTP error as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return http_exception_response(error)


def schema_name(schema):
    """A schema's name in the document: its class name without "Schema"; a PATCH (partial) form of an input
    schema is named for its fields: ProgramInSchema(partial=True) is "ProgramFields"."""
    name = class_name_resolver(schema)
    if getattr(schema, "partial", None):  # True, or the names of the fields that may be left out
        name = name.removesuffix("In") + "Fields"
    return name


class PatchConverter(OpenAPIConverter):
    """A PATCH body documents no defaults: a field left out keeps its stored value, it does not take the default."""

    def field2default(self, field, **kwargs):
        partial = getattr(field.parent, "partial", None)
        if partial is True or (partial and field.name in partial):
            return {}
        return super().field2default(field, **kwargs)


class DocumentPlugin(MarshmallowPlugin):
    Converter = PatchConverter


def _document_problems(spec):
    """Every operation may answer with the problem+json errors; say so in the document."""
    problem = {"content": {PROBLEM_MIME: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for operations in spec._paths.values():
        for method, operation in operations.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("default", None)
            public = operation.get("security") == []
            for status, description in ERROR_STATUSES.items():
                if (public and status in ("401", "403")) or (status == "415" and method not in BODY_METHODS):
                    continue
                responses[status] = dict(problem, description=description)


def _document_optional_bodies(spec):
    """A body whose fields are all optional may be left out (webargs reads no body as {}): the document says so,
    rather than promise a refusal the service does not make."""
    schemas = spec.components.schemas
    for operations in spec._paths.values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            schema = body["content"]["application/json"]["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            body["required"] = bool(schema.get("required"))


class MalformedRequest(DomainError):
    status, type, title = 400, "malformed-request", "Bad Request"


class UnsupportedMediaType(DomainError):
    status, type, title = 415, "unsupported-media-type", "Unsupported Media Type"


class _DuplicateKey(Exception):
    pass


def refuse_malformed_requests():
    """What no view can make sense of is refused once, here, for every request to an API blueprint, right after its
    authentication (a stranger learns nothing of the body's handling): a path or query string that is not UTF-8 or
    holds NUL, a body that is not JSON, and JSON the contract refuses (deeper than MAX_JSON_DEPTH, a key twice in one
    object, NUL or a lone surrogate in any key or string). The views' schemas then only see text the database can
    hold, and this is the one place that says so."""
    _check_url(request.environ)
    body = request.get_data(cache=True)  # a 413 past MAX_CONTENT_LENGTH, when the request says its length
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(body) >= limit:
        # A chunked body has no length to check up front, and werkzeug cuts it at the limit rather than refuse it.
        raise RequestEntityTooLarge()
    if body:
        if not is_json(request.mimetype):
            # webargs would read such a body as no body at all: a POST whose fields are all optional would go ahead.
            raise UnsupportedMediaType("Send the request body as JSON, with Content-Type: application/json.")
        g.json_document = _check_json(body)  # the views' parser reads this rather than parse the body again
        g.json_body = True  # StrictSchema then holds the body's values to their JSON types


def _check_url(environ):
    """The path (WSGI gives its bytes as latin-1) and the raw query string, percent-decoded, as strict UTF-8."""
    try:
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        query = unquote_to_bytes(environ.get("QUERY_STRING", "").encode("latin-1")).decode("utf-8")
    except UnicodeError:
        raise MalformedRequest("Invalid Unicode: the URL is not UTF-8.") from None
    problem = nul.text_problem(path) or nul.text_problem(query)
    if problem:
        raise MalformedRequest(problem)


def _refuse_duplicate_keys(pairs):
    document = dict(pairs)
    if len(document) != len(pairs):
        seen = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return document


def _finite_number(text):
    number = float(text)
    if not math.isfinite(number):  # 1e400 would be read as infinity
        raise ValueError("number out of range")
    return number


def _refuse_constant(name):
    raise ValueError("%s is not JSON" % name)  # Python reads NaN and Infinity; JSON has neither


def _check_json(body):
    """Parse the body as the contract's JSON and return it, or raise MalformedRequest saying why not."""
    if b"\x00" in body:
        raise MalformedRequest(nul.MESSAGE)
    try:
        document = json.loads(
            body.decode("utf-8"),  # JSON is UTF-8 (RFC 8259); json.loads(bytes) would let encoded surrogates pass
            object_pairs_hook=_refuse_duplicate_keys,
            parse_float=_finite_number,
            parse_constant=_refuse_constant,
        )
    except _DuplicateKey as duplicate:
        key = duplicate.args[0]
        named = ' "%s"' % key[:100] if nul.text_problem(key) is None else ""
        raise MalformedRequest("The JSON body repeats the key%s within one object." % named) from None
    except RecursionError:  # a few hundred levels and more: the parser itself gives up
        raise MalformedRequest(_TOO_DEEP) from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError among them
        raise MalformedRequest("The request body is not valid JSON.") from None
    # Only a \u escape can put NUL or a surrogate in a string (a raw NUL was refused above, and strict UTF-8 decoding
    # refuses encoded surrogates), and nothing nests deeper than the body has brackets: most bodies need no walk.
    if b"\\u" in body or body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH:
        _check_values(document)
    return document


def _check_values(document):
    """Walk the parsed body without recursion: its depth, and every key and string in it."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedRequest(_TOO_DEEP)
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
            if isinstance(value, dict):
                pending.extend((key, depth) for key in value)
        elif isinstance(value, str):
            problem = nul.text_problem(value)
            if problem:
                raise MalformedRequest(problem)


def init_app(app):
    app.config.setdefault("API_TITLE", "Step-down transition coordination service")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "v1/openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/assets/")
    api = Api(
        app,
        spec_kwargs={
            "info": {
                "description": DESCRIPTION % {"max_body": app.config["MAX_CONTENT_LENGTH"], "max_depth": MAX_JSON_DEPTH}
            },
            "marshmallow_plugin": DocumentPlugin(schema_name_resolver=schema_name),
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]

    from transitions.api import (
        admin,
        adt,
        audit_log,
        dashboards,
        discharges,
        followups,
        health,
        matching,
        notifications,
        offers,
        programs,
        referrals,
        webhooks,
    )

    for module in (
        health,
        admin,
        programs,
        referrals,
        matching,
        offers,
        audit_log,
        followups,
        webhooks,
        dashboards,
        notifications,
        adt,
        discharges,
    ):
        api.register_blueprint(module.blp)
        # After the blueprint's own hooks (its authentication); this app's list, so no app adds it twice.
        app.before_request_funcs.setdefault(module.blp.name, []).append(refuse_malformed_requests)
    api.register_blueprint(adt.feed)  # HL7 bodies, not JSON: the feed reads and checks its body itself
    _document_problems(api.spec)
    _document_optional_bodies(api.spec)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_ui_asset(filename):
        return send_from_directory(assets, filename, max_age=3600)

    app.extensions["transitions_api"] = api
    return api
