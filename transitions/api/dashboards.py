"""Case managers' step-down board and follow-up metrics (planners get the same for their own org's referrals)."""

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, page_response
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.followups import dashboards, present
from transitions.followups.schemas import MetricsQuerySchema, MetricsSchema, StepdownQuerySchema, StepdownSchema

blp = api_blueprint("dashboards", __name__, "Members in transition and the follow-up rates a plan is measured on.")
StepdownPage = page_of(StepdownSchema, "StepdownPage")

_STEPDOWN = StepdownSchema()
_METRICS = MetricsSchema()


@blp.query_route("/stepdowns", StepdownQuerySchema, StepdownPage, policy=policy.VIEW_DASHBOARDS)
def list_stepdowns(args):
    """Every referral in transition you may see (a plan's members, or a planner's own org), most urgent first."""
    user = current_user()
    referrals, details, cursor = dashboards.stepdowns(user, args, utcnow())
    return page_response(_STEPDOWN, [present.stepdown(user, r, details[r.id]) for r in referrals], cursor)


@blp.query_route("/metrics", MetricsQuerySchema, MetricsSchema, policy=policy.VIEW_DASHBOARDS)
def get_metrics(args):
    """Follow-up, initiation, engagement, acceptance and readmission rates for referrals discharged from..to."""
    user = current_user()
    result = dashboards.metrics(user, args, utcnow())
    audit.record("metrics.read", "metrics", None)
    return json_response(_METRICS.dump(result))
