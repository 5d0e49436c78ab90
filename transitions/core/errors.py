"""Domain errors raised by commands and rules, and their translation into RFC 9457 problem+json responses."""

import logging

from flask import current_app, json, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"
PROBLEM_BASE = "https://transitions.example/problems/"
# What a 503 asks a client to wait before retrying (the Retry-After header), in seconds.
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A business rule said no; status and type decide the HTTP translation."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail=None, *, errors=None, extra=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra or {}


class Unauthorized(DomainError):
    status, type, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, type, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, type, title = 409, "conflict", "Conflict"


class ValidationFailed(DomainError):
    status, type, title = 422, "validation-error", "Validation failed"

    def __init__(self, errors, detail="The request body has invalid fields."):
        super().__init__(detail, errors=errors)


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached: every request that needs it answers 503 with Retry-After, never 500."""

    description = "The database is unavailable; retry later."

    def __init__(self):
        super().__init__(retry_after=RETRY_AFTER_SECONDS)


def problem_response(status, title, detail=None, type_=None, errors=None, extra=None, headers=None):
    body = {
        "type": PROBLEM_BASE + (type_ or "about-blank"),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MIME, headers=headers)


def flatten_webargs_errors(messages):
    """webargs nests messages under their location ("json", "query"); clients want field names."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    flat = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for field, msgs in fields.items():
                flat[field] = msgs
        else:
            flat[location] = fields
    return flat


def domain_error_response(error):
    return problem_response(error.status, error.title, error.detail, error.type, error.errors, error.extra)


def http_exception_response(error):
    """Translate werkzeug/webargs HTTP exceptions (400 bad JSON, 413, 405, 422 from webargs...)."""
    data = getattr(error, "data", None) or {}
    errors = None
    if "messages" in data:
        errors = flatten_webargs_errors(data["messages"])
    elif "errors" in data:
        errors = data["errors"]
    code = error.code or 500
    detail = data.get("message") or error.description
    type_ = {
        400: "malformed-request",
        413: "payload-too-large",
        422: "validation-error",
        404: "not-found",
        405: "method-not-allowed",
        414: "uri-too-long",
        431: "header-fields-too-large",
        503: "unavailable",
    }.get(code, "http-%d" % code)
    title = error.name
    if code == 422:
        title = "Validation failed"
        detail = "The request has invalid fields."
    if code == 400 and request.mimetype and "json" in request.mimetype:
        detail = detail or "The request body is not valid JSON."
    headers = dict(data.get("headers") or {})
    if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    # 503 and 429 may say when to come back (werkzeug renders seconds or an HTTP date).
    retry_after = dict(error.get_headers()).get("Retry-After")
    if retry_after:
        headers["Retry-After"] = retry_after
    return problem_response(code, title, detail, type_, errors, headers=headers)


def unexpected_error_response(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(
        500, "Internal Server Error", "An unexpected error occurred; it was logged.", "internal-error"
    )


def init_app(app):
    app.register_error_handler(DomainError, domain_error_response)
    app.register_error_handler(HTTPException, http_exception_response)
    app.register_error_handler(Exception, unexpected_error_response)
