"""Follow-up checks API: a referral's checks, the due/outcome worklist, and case managers' outreach notes."""
from transitions import policy
from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response
from transitions.core import audit
from transitions.core.db import db
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.followups import service
from transitions.followups.models import FollowUp
from transitions.followups.schemas import (
    FollowUpContactInSchema,
    FollowUpContactSchema,
    FollowUpListQuerySchema,
    FollowUpSchema,
)
from transitions.referrals.models import Referral

blp = Blueprint("followups", __name__, url_prefix="/api/v1", description="Follow-up checks after discharge.")
blp.before_request(require_authentication)
FollowUpPage = page_of(FollowUpSchema, "FollowUpPage")
ORDER = [FollowUp.due_at, FollowUp.id]

_ITEM = FollowUpSchema()
_CONTACT = FollowUpContactSchema()


def dump_followups(user, rows, referrals):
    """Items with their outreach; coordinators see that outreach happened, not the case manager's notes."""
    contacts = service.contacts_for([row.id for row in rows])
    items = []
    for row in rows:
        referral = referrals[row.referral_id]
        item = _ITEM.dump(row)
        item["contacts"] = _CONTACT.dump(contacts[row.id], many=True)
        if policy.referral_disclosure(user, referral) == "provider":
            for contact in item["contacts"]:
                contact["note"] = None
        item["part2_notice"] = policy.part2_notice_for(user, referral)
        items.append(item)
    return items


def _referrals_of(rows):
    ids = {row.referral_id for row in rows}
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(db.select(Referral).where(Referral.id.in_(ids)))}


@blp.route("/referrals/<referral_id>/followups", methods=["GET"])
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, FollowUpPage)
def referral_followups(args, referral_id):
    """The follow-up plan of one referral and each check's outcome, in due order."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "followup.list")
    rows, cursor = keyset_page(service.referral_query(referral), ORDER, args)
    return json_response({"items": dump_followups(user, rows, {referral.id: referral}), "next_cursor": cursor})


@blp.route("/followups", methods=["GET"])
@blp.arguments(FollowUpListQuerySchema, location="query")
@blp.response(200, FollowUpPage)
def list_followups(args):
    """Checks of every referral you may see, by due time; filter on due date, outcome (or pending), check."""
    user = current_user()
    rows, cursor = keyset_page(service.list_query(user, args), ORDER, args)
    referrals = _referrals_of(rows)
    for referral_id in referrals:
        audit.record("followup.list", "referral", referral_id)
    return json_response({"items": dump_followups(user, rows, referrals), "next_cursor": cursor})


@blp.route("/followups/<followup_id>", methods=["GET"])
@blp.response(200, FollowUpSchema)
def get_followup(followup_id):
    """One check, with its outreach."""
    user = current_user()
    row, referral = service.get_followup(user, followup_id)
    return json_response(dump_followups(user, [row], {referral.id: referral})[0])


@blp.route("/followups/<followup_id>/contact", methods=["POST"])
@require_roles("case_manager", "admin")
@blp.arguments(FollowUpContactInSchema)
@blp.response(201, FollowUpContactSchema)
@idempotent
def record_contact(data, followup_id):
    """Record outreach on a check (a case manager of the member's plan): {note, reached}."""
    user = current_user()
    row, referral = service.get_followup(user, followup_id, "followup.contact")
    contact = service.add_contact(user, row, referral, data)
    return json_response(_CONTACT.dump(contact), 201)
