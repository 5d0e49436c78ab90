"""OperationOutcome: every error under /fhir/r4, with the status code the JSON API gives the same failure."""

import logging

from flask import current_app, json, request

from transitions.core.errors import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# The issue code (http://hl7.org/fhir/issue-type) for each status this service answers with.
ISSUE_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    503: "transient",
}


class FhirInvalid(Exception):
    """A request FHIR-valid enough to read but refused (422 by default): issues are (expression, message) pairs."""

    def __init__(self, issues, status=422):
        super().__init__("; ".join(message for _, message in issues))
        self.issues = issues
        self.status = status


def resource_response(resource, status=200, headers=None):
    return current_app.response_class(json.dumps(resource), status=status, mimetype=FHIR_JSON, headers=headers)


def outcome(status, issues):
    """An OperationOutcome of (expression or None, diagnostics) issues."""
    code = ISSUE_CODES.get(status, "exception" if status >= 500 else "processing")
    entries = []
    for expression, message in issues:
        issue = {"severity": "error" if status < 500 else "fatal", "code": code, "diagnostics": str(message)}
        if expression:
            issue["expression"] = [expression]
        entries.append(issue)
    return {"resourceType": "OperationOutcome", "issue": entries}


def outcome_response(status, issues, headers=None):
    response = resource_response(outcome(status, issues), status, headers)
    if status == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


def invalid_response(error):
    return outcome_response(error.status, error.issues)


def domain_error_response(error):
    """A DomainError (the commands' 403, 404, 409, 422, the request checks' 400, 415) as an OperationOutcome; its
    field errors become issues naming the field."""
    issues = []
    for field, messages in (error.errors or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            issues.append((None if field == "_schema" else field, message))
    return outcome_response(error.status, [(None, error.detail), *issues])


def http_error_response(error):
    code = error.code or 500
    headers = {}
    retry_after = dict(error.get_headers()).get("Retry-After")
    if retry_after:
        headers["Retry-After"] = retry_after
    if code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return outcome_response(code, [(None, error.description or error.name)], headers)


def unexpected_error_response(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return outcome_response(500, [(None, "An unexpected error occurred; it was logged.")])
