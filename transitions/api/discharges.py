"""Discharges without referral (from ADT feeds): the list and one discharge with its follow-up checks, and the
follow-up visits case managers record on them."""

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, shaped_page_response
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.discharges import commands, present, queries, schemas

blp = api_blueprint(
    "discharges", __name__, "Discharges without referral: members an ADT feed discharged with no step-down arranged."
)
DischargePage = page_of(schemas.DischargeSchema, "DischargePage")

_ITEM = schemas.DischargeSchema()
_VISIT = schemas.DischargeVisitSchema()


@blp.query_route("/discharges", schemas.DischargeQuerySchema, DischargePage, policy=policy.READ_DISCHARGES)
def list_discharges(args):
    """Discharges without referral you may see (your plan's members, or your facility's), newest first, each with its
    followup_7 and followup_30 checks."""
    user, now = current_user(), utcnow()
    rows, details, cursor = queries.list_discharges(user, args)
    items = [present.discharge(row, details[row.id], now) for row in rows]
    return shaped_page_response(_ITEM.dump(items, many=True), cursor)


@blp.read_route("/discharges/<discharge_id>", schemas.DischargeSchema, policy=policy.READ_DISCHARGES)
def get_discharge(discharge_id):
    """One discharge without referral, with its checks, recorded visits and readmissions."""
    row, detail = queries.get_discharge(current_user(), discharge_id)
    return json_response(_ITEM.dump(present.discharge(row, detail, utcnow())))


@blp.create_route(
    "/discharges/<discharge_id>/visits",
    schemas.DischargeVisitInSchema,
    schemas.DischargeVisitSchema,
    policy.RECORD_VISIT,
)
def record_visit(data, discharge_id):
    """Record a follow-up visit learned from claims or a call (a case manager of the member's plan): {date}. It counts
    like an attended session for the discharge's checks."""
    _, visit = commands.record_visit(current_user(), discharge_id, data, utcnow())
    return json_response(_VISIT.dump(present.visit(visit)), 201)
