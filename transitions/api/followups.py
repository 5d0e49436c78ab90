"""Follow-up checks API: a referral's checks, the due/outcome worklist, and case managers' outreach notes."""

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, page_response
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.followups import commands, present, queries
from transitions.followups.models import FollowUp
from transitions.followups.schemas import (
    FollowUpContactInSchema,
    FollowUpContactSchema,
    FollowUpListQuerySchema,
    FollowUpSchema,
)

blp = api_blueprint("followups", __name__, "Follow-up checks after discharge.")
FollowUpPage = page_of(FollowUpSchema, "FollowUpPage")
ORDER = [FollowUp.due_at, FollowUp.id]

_ITEM = FollowUpSchema()
_CONTACT = FollowUpContactSchema()


@blp.query_route("/referrals/<referral_id>/followups", PageQuerySchema, FollowUpPage)
def referral_followups(args, referral_id):
    """The follow-up plan of one referral and each check's outcome, in due order."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "followup.list")
    rows, cursor = keyset_page(queries.referral_query(referral), ORDER, args)
    return page_response(_ITEM, present.followups(user, rows, {referral.id: referral}), cursor)


@blp.query_route("/followups", FollowUpListQuerySchema, FollowUpPage)
def list_followups(args):
    """Checks of every referral you may see, by due time; filter on due date, outcome (or pending), check."""
    user = current_user()
    rows, cursor = keyset_page(queries.list_query(user, args), ORDER, args)
    referrals = queries.referrals_of(rows)
    for referral_id in referrals:
        audit.record("followup.list", "referral", referral_id)
    return page_response(_ITEM, present.followups(user, rows, referrals), cursor)


@blp.route("/followups/<followup_id>", methods=["GET"])
@blp.response(200, FollowUpSchema)
def get_followup(followup_id):
    """One check, with its outreach."""
    user = current_user()
    row, referral = queries.get_followup(user, followup_id)
    return json_response(_ITEM.dump(present.followups(user, [row], {referral.id: referral})[0]))


@blp.route("/followups/<followup_id>/contact", methods=["POST"])
@permits(policy.CONTACT_FOLLOWUP)
@blp.arguments(FollowUpContactInSchema)
@blp.response(201, FollowUpContactSchema)
@idempotent
def record_contact(data, followup_id):
    """Record outreach on a check (a case manager of the member's plan): {note, reached}."""
    _, contact = commands.record_contact(current_user(), followup_id, data, utcnow())
    return json_response(_CONTACT.dump(present.contact(contact)), 201)
