"""Liveness and readiness probes, open without a token."""

from sqlalchemy import text

from transitions.api.common import Blueprint
from transitions.core.db import db
from transitions.core.errors import problem_response

blp = Blueprint("health", __name__, description="Process and database health; no token needed.")


@blp.route("/healthz")
@blp.doc(security=[])
@blp.response(200)
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.doc(security=[])
@blp.response(200)
def readyz():
    """The database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not ready", never a 500
        db.session.rollback()
        return problem_response(503, "Service Unavailable", "The database is not reachable.", "unavailable")
    return {"status": "ok", "database": db.session.get_bind().dialect.name}
