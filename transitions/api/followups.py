"""Follow-up checks API: a referral's checks, the due/outcome worklist, and case managers' outreach notes."""

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, page_response
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.followups import commands, present, queries, schemas

blp = api_blueprint("followups", __name__, "Follow-up checks after discharge.")
FollowUpPage = page_of(schemas.FollowUpSchema, "FollowUpPage")

_ITEM = schemas.FollowUpSchema()
_CONTACT = schemas.FollowUpContactSchema()


def _checks_page(user, rows, referrals, cursor):
    return page_response(_ITEM, present.followups(user, rows, referrals), cursor)


@blp.query_route("/referrals/<referral_id>/followups", PageQuerySchema, FollowUpPage)
def referral_followups(args, referral_id):
    """The follow-up plan of one referral and each check's outcome, in due order."""
    user = current_user()
    return _checks_page(user, *queries.referral_followups(user, referral_id, args))


@blp.query_route("/followups", schemas.FollowUpListQuerySchema, FollowUpPage)
def list_followups(args):
    """Checks of every referral and discharge without referral you may see, by due time; filter on due date, outcome
    (or pending), check, referral or discharge."""
    user = current_user()
    return _checks_page(user, *queries.list_followups(user, args))


@blp.read_route("/followups/<followup_id>", schemas.FollowUpSchema)
def get_followup(followup_id):
    """One check, with its outreach."""
    user = current_user()
    row, referral = queries.get_followup(user, followup_id)
    referrals = {referral.id: referral} if referral is not None else {}
    return json_response(_ITEM.dump(present.followups(user, [row], referrals)[0]))


@blp.create_route(
    "/followups/<followup_id>/contact",
    schemas.FollowUpContactInSchema,
    schemas.FollowUpContactSchema,
    policy.CONTACT_FOLLOWUP,
)
def record_contact(data, followup_id):
    """Record outreach on a check (a case manager of the member's plan): {note, reached}."""
    _, contact = commands.record_contact(current_user(), followup_id, data, utcnow())
    return json_response(_CONTACT.dump(present.contact(contact)), 201)
