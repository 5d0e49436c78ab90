"""One transaction per request: commit a successful request, roll back a failed one, always keep its audit rows."""

import logging

from flask import current_app, g
from sqlalchemy.exc import IntegrityError

from transitions.core import audit
from transitions.core.db import database_unavailable, db, is_unavailable
from transitions.core.errors import problem_response
from transitions.core.idempotency import remember_response

log = logging.getLogger(__name__)


def _write_audit_after_rollback(status_code):
    rows = audit.pending_rows()
    if not rows:
        return
    audit.mark_failed(status_code)
    audit.write_pending()
    db.session.commit()


def finish_request(response):
    try:
        if response.status_code < 400:
            remember_response(response)
            audit.write_pending()
            db.session.commit()
        else:
            db.session.rollback()
            g.pop("idempotency_record", None)
            _write_audit_after_rollback(response.status_code)
    except IntegrityError:
        log.info("commit refused by a constraint; answering 409")
        db.session.rollback()
        response = problem_response(
            409, "Conflict", "A concurrent change conflicted with this request; retry it.", "conflict"
        )
        _write_audit_after_rollback(409)
    except Exception as error:
        if not is_unavailable(error):
            raise
        unavailable = database_unavailable(error, where="at commit on")
        response = current_app.make_response(current_app.handle_http_exception(unavailable))
    g.pop("audit_rows", None)
    response.headers["X-Request-ID"] = audit.request_id()
    return response


def init_app(app):
    app.after_request(finish_request)
