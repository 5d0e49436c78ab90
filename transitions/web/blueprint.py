"""The web blueprint: who is signed in, CSRF on every POST, role checks, HTML errors and safe response headers."""

import logging
import re
from functools import wraps
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, g, has_request_context, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from transitions import policy
from transitions.core import audit, nul
from transitions.core.errors import DomainError, http_exception_response
from transitions.web import csrf, sessions

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

# Endpoints a visitor without a session may reach.
PUBLIC_ENDPOINTS = frozenset({"web.sign_in", "web.favicon"})
# Requests a page makes by itself (the seat counts refresh, the icon): they must not keep an idle session alive.
PASSIVE_ENDPOINTS = frozenset({"web.program_seats", "web.favicon"})
SESSION_PROBLEMS = {
    "idle": "You were signed out after %d minutes without activity. Please sign in again.",
    "expired": "Your session reached its time limit. Please sign in again.",
    "revoked": "You were signed out. Please sign in again.",
    "deactivated": "This account is no longer active.",
}
ROLE_HOME = {
    "discharge_planner": "web.referrals",
    "iop_coordinator": "web.offer_inbox",
    "case_manager": "web.board",
    "admin": "web.board",
}
# Each role's menu, in its order: a page map like ROLE_HOME (every page still checks its own policy).
ROLE_NAV = {
    "discharge_planner": (
        ("web.referrals", "My referrals"),
        ("web.new_referral", "New referral"),
        ("web.board", "Step-down board"),
        ("web.metrics", "Metrics"),
    ),
    "iop_coordinator": (
        ("web.offer_inbox", "Offer inbox"),
        ("web.programs", "Programs and seats"),
        ("web.roster", "Today's roster"),
    ),
    "case_manager": (("web.board", "Step-down board"), ("web.metrics", "Metrics"), ("web.referrals", "Members")),
    "admin": (
        ("web.board", "Board"),
        ("web.metrics", "Metrics"),
        ("web.referrals", "Referrals"),
        ("web.offer_inbox", "Offers"),
        ("web.programs", "Programs"),
        ("web.roster", "Roster"),
        ("web.users", "Users"),
        ("web.organizations", "Organizations"),
        ("web.adt_inbox", "ADT inbox"),
    ),
}
ROLE_LABELS = {
    "discharge_planner": "Discharge planner",
    "iop_coordinator": "IOP coordinator",
    "case_manager": "Case manager",
    "admin": "Administrator",
}


def current_user():
    return g.get("user")


# What a browser drops from a URL before reading it (WHATWG URL parsing): tab, LF and CR anywhere, and C0
# controls and spaces at either end. "/\t/evil.example" is "//evil.example" to the browser.
_URL_WHITESPACE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def safe_next(target):
    """The same-site path to go to after sign-in, or None: the target is read as a browser would read it (no open
    redirect to //evil.example however it is disguised, and no control character reaches a Location header)."""
    if not target:
        return None
    path = _URL_WHITESPACE.sub("", target).strip(_C0_AND_SPACE)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or "\\" in path:
        return None
    if not path.startswith("/") or path.startswith("//"):
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return None
    return path


@bp.before_request
def load_session_and_check_csrf():
    row, problem = sessions.load(touch=request.endpoint not in PASSIVE_ENDPOINTS)
    g.web_session = row if problem is None else None
    g.user = row.user if problem is None else None
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        # No session: nothing runs, whatever the method; a GET comes back here after sign-in.
        args = {}
        if problem in SESSION_PROBLEMS:
            args["reason"] = problem
        if request.method == "GET":
            args["next"] = request.full_path.rstrip("?")
        return redirect(url_for("web.sign_in") + ("?" + urlencode(args) if args else ""))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            csrf.verify(g.web_session)
        except csrf.CsrfFailure as failure:
            # Refused before any view runs; the 403 rolls back the request's transaction.
            audit.record("web.csrf", "request", None, outcome="denied", user=g.user)
            return error_page(403, "This form could not be accepted", "%s Reload the page and try again." % failure)
    # No browser sends NUL in a form; PostgreSQL text cannot hold it, so refuse it before any query does.
    if any(nul.has_nul(value) for values in request.values.listvalues() for value in values):
        return error_page(400, "This request could not be read", "A field holds a character that is not allowed.")
    return None


@bp.after_request
def headers(response):
    # Caching, framing and the pages' CSP are set for every response in one place (transitions.response_headers).
    sessions.apply_cookies(response)
    return response


def permits(policy):
    """Deny by default: roles the policy does not name get a 403 page."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not policy.allows(g.user):
                return error_page(
                    403,
                    "Not available for your role",
                    "This page is for %s." % " and ".join(ROLE_LABELS[role].lower() + "s" for role in policy.roles),
                )
            return view(*args, **kwargs)

        return wrapper

    return decorator


def render(template, status=200, **context):
    """Render a page with this session's one-shot notices."""
    notices = sessions.pop_notices(g.web_session) if g.get("web_session") is not None else []
    return render_template(template, notices=notices, **context), status


def notice(text, kind="info"):
    if g.get("web_session") is not None:
        sessions.add_notice(g.web_session, text, kind)


def error_page(status, title, detail):
    return render_template("error.html", status=status, title=title, detail=detail), status


@bp.errorhandler(DomainError)
def domain_error(error):
    titles = {403: "Not allowed", 404: "Not found", 409: "That cannot be done now", 422: "Please check the input"}
    return error_page(error.status, titles.get(error.status, error.title), error.detail)


@bp.errorhandler(HTTPException)
def http_error(error):
    return error_page(error.code or 500, error.name, error.description)


MACHINE_PATHS = ("/api", "/healthz", "/readyz")


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def unknown_page(error):
    """A browser that follows a stale or mistyped link gets a page; the API, probes and scripts keep problem+json."""
    wants_page = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    for_machines = any(request.path == path or request.path.startswith(path + "/") for path in MACHINE_PATHS)
    if for_machines or not wants_page:
        return http_exception_response(error)
    body, status = error_page(
        error.code,
        "Not found" if error.code == 404 else error.name,
        "There is no page at this address." if error.code == 404 else error.description,
    )
    response = make_response(body, status)
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@bp.errorhandler(Exception)
def unexpected_error(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(500, "Something went wrong", "The error was logged. Please try again.")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links (feeds, bookmarks, old clients): the SVG icon."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.app_template_global()
def csrf_token():
    return csrf.token()


@bp.app_context_processor
def layout_context():
    user = g.get("user") if has_request_context() and request.blueprint == "web" else None
    return {
        "current_user": user,
        "role_labels": ROLE_LABELS,
        "may": lambda name, obj=None: _may(user, name, obj),
        "nav_items": ROLE_NAV.get(user.role, ()) if user is not None else (),
    }


def _may(user, policy_name, obj=None):
    """Templates ask the policy by name: {% if may("WITHDRAW_OFFER", offer) %}."""
    return user is not None and getattr(policy, policy_name).allows(user, obj)
