"""The audit trail, read by platform admins."""

from transitions import policy
from transitions.api.common import api_blueprint, keyset_page_response
from transitions.core.db import db
from transitions.core.fields import AuditQuerySchema, AuditSchema, page_of
from transitions.core.models import AuditRecord

blp = api_blueprint("audit", __name__, "Who read and wrote which records.")
AuditPage = page_of(AuditSchema, "AuditPage")


@blp.query_route("/audit", AuditQuerySchema, AuditPage, policy=policy.ADMINISTER)
def list_audit(args):
    """Audit records, newest first (admin)."""
    query = db.select(AuditRecord)
    for name in ("object_type", "object_id", "user_id", "outcome"):
        if name in args:
            query = query.where(getattr(AuditRecord, name) == args[name])
    return keyset_page_response(AuditSchema(), query, [AuditRecord.at, AuditRecord.id], args, descending=True)
