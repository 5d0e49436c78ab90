"""The FHIR R4 interface under /fhir/r4: FHIR in, the same commands the JSON API calls, FHIR out (see docs/fhir.md)."""

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, default_exceptions

from transitions.api import refuse_malformed_requests
from transitions.api.auth import current_user
from transitions.core.errors import DomainError
from transitions.fhir import outcome

PREFIX = "/fhir/r4"
# The one endpoint a client reads before it has a token.
PUBLIC_ENDPOINTS = ("fhir.metadata",)
# Endpoints that store what they are sent before judging it (nothing a sender submitted is lost), so they check
# the body themselves, after their role check.
SELF_CHECKING_ENDPOINTS = ("fhir.process_message",)

blp = Blueprint("fhir", __name__, url_prefix=PREFIX)


@blp.before_request
def authenticate_and_refuse_malformed():
    """The API's order: the bearer token first (401), then what no view can read (400, 415, 413)."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        current_user()
    if request.endpoint not in SELF_CHECKING_ENDPOINTS:
        refuse_malformed_requests()


@blp.errorhandler(outcome.FhirInvalid)
def invalid(error):
    return outcome.invalid_response(error)


@blp.errorhandler(DomainError)
def domain_error(error):
    return outcome.domain_error_response(error)


@blp.errorhandler(HTTPException)
def http_error(error):
    return outcome.http_error_response(error)


@blp.errorhandler(Exception)
def unexpected_error(error):
    return outcome.unexpected_error_response(error)


# The app's handlers for single status codes (the web pages' 404 page, say) come before any handler of a class; the
# same codes here, so that under /fhir/r4 every HTTP error is an OperationOutcome.
for _code in default_exceptions:
    blp.register_error_handler(_code, http_error)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@blp.route("/<path:unknown>", methods=METHODS)
def no_such_path(unknown):
    """Anything else under /fhir/r4 is an OperationOutcome too (Flask's own 404 would leave as problem+json); a
    method a FHIR path does not take lands here as well, and is a 405 naming the methods it does take."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound("No such FHIR endpoint: %s %s." % (request.method, request.path))


def init_app(app):
    from transitions.fhir import views  # noqa: F401  (its routes join blp)

    app.register_blueprint(blp)
