"""The JSON API: flask-smorest blueprints, the OpenAPI document and its local docs page."""

import swagger_ui_bundle
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow import resolver as class_name_resolver
from flask import request, send_from_directory
from flask_smorest import Api as SmorestApi

from transitions.core import nul
from transitions.core.errors import PROBLEM_MIME, http_exception_response, problem_response
from transitions.core.fields import ProblemSchema

ERROR_STATUSES = {
    "400": "Malformed request (bad JSON, bad header).",
    "401": "Missing or invalid bearer token.",
    "403": "Authenticated but not allowed.",
    "404": "No such object, or not yours to see.",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "422": "Validation failed; see errors.",
}


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
                if public and status in ("401", "403"):
                    continue
                responses[status] = dict(problem, description=description)


def refuse_nul_characters():
    """PostgreSQL text cannot hold NUL: refuse it in a path, query or JSON body up front, not at the database."""
    if not request.path.startswith("/api/"):
        return None
    query = request.query_string.decode("latin-1")
    if (
        nul.has_nul(request.path)
        or nul.has_nul(query)
        or "%00" in query
        or nul.json_has_nul(request.get_data(cache=True))
    ):
        return problem_response(400, "Bad Request", nul.MESSAGE, "malformed-request")
    return None


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
            "info": {"description": "Discharge referrals, IOP matching, offers, placements and follow-ups."},
            "marshmallow_plugin": DocumentPlugin(schema_name_resolver=schema_name),
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]

    from transitions.api import (
        admin,
        audit_log,
        dashboards,
        followups,
        health,
        matching,
        offers,
        programs,
        referrals,
        webhooks,
    )

    for module in (health, admin, programs, referrals, matching, offers, audit_log, followups, webhooks, dashboards):
        api.register_blueprint(module.blp)
    _document_problems(api.spec)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_ui_asset(filename):
        return send_from_directory(assets, filename, max_age=3600)

    app.before_request(refuse_nul_characters)

    app.extensions["transitions_api"] = api
    return api
