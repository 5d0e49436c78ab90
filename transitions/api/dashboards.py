"""Case managers' step-down board and follow-up metrics (planners get the same for their own org's referrals)."""

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, page_response
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.followups import dashboards, present, queries, schemas

blp = api_blueprint("dashboards", __name__, "Members in transition and the follow-up rates a plan is measured on.")
StepdownPage = page_of(schemas.StepdownSchema, "StepdownPage")

_STEPDOWN = schemas.StepdownSchema()
_METRICS = schemas.MetricsSchema()


@blp.query_route("/stepdowns", schemas.StepdownQuerySchema, StepdownPage, policy=policy.VIEW_DASHBOARDS)
def list_stepdowns(args):
    """Every referral in transition you may see (a plan's members, or a planner's own org), most urgent first."""
    user = current_user()
    referrals, details, cursor = dashboards.stepdowns(user, args, utcnow())
    return page_response(_STEPDOWN, [present.stepdown(user, r, details[r.id]) for r in referrals], cursor)


@blp.query_route("/metrics", schemas.MetricsQuerySchema, schemas.MetricsSchema, policy=policy.VIEW_DASHBOARDS)
def get_metrics(args):
    """Follow-up, initiation, engagement, acceptance and readmission rates for referrals discharged from..to."""
    result, _ = queries.metrics(current_user(), args, utcnow())
    return json_response(_METRICS.dump(result))
