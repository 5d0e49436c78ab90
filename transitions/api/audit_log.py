"""The audit trail, read by platform admins."""

from transitions import policy
from transitions.api.auth import permits, require_authentication
from transitions.api.common import Blueprint, page_response
from transitions.core.db import db
from transitions.core.fields import AuditQuerySchema, AuditSchema, page_of
from transitions.core.models import AuditRecord
from transitions.core.pagination import keyset_page

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Who read and wrote which records.")
blp.before_request(require_authentication)
AuditPage = page_of(AuditSchema, "AuditPage")


@blp.route("/audit", methods=["GET"])
@permits(policy.ADMINISTER)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPage)
def list_audit(args):
    """Audit records, newest first (admin)."""
    query = db.select(AuditRecord)
    for name in ("object_type", "object_id", "user_id", "outcome"):
        if name in args:
            query = query.where(getattr(AuditRecord, name) == args[name])
    rows, cursor = keyset_page(query, [AuditRecord.at, AuditRecord.id], args, descending=True)
    return page_response(AuditSchema(), rows, cursor)
