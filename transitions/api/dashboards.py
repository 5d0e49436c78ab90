"""Case managers' step-down board and follow-up metrics (planners get the same for their own org's referrals)."""
from transitions import policy
from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.followups import dashboards as service
from transitions.followups.schemas import (
    MetricsQuerySchema,
    MetricsSchema,
    StepdownQuerySchema,
    StepdownSchema,
)

blp = Blueprint("dashboards", __name__, url_prefix="/api/v1",
                description="Members in transition and the follow-up rates a plan is measured on.")
blp.before_request(require_authentication)
StepdownPage = page_of(StepdownSchema, "StepdownPage")

# Coordinators are left out: a provider sees the patients offered to it, not a plan's population.
DASHBOARD_ROLES = ("case_manager", "discharge_planner", "admin")
_STEPDOWN = StepdownSchema()
_METRICS = MetricsSchema()


@blp.route("/stepdowns", methods=["GET"])
@require_roles(*DASHBOARD_ROLES)
@blp.arguments(StepdownQuerySchema, location="query")
@blp.response(200, StepdownPage)
def list_stepdowns(args):
    """Every referral in transition you may see (a plan's members, or a planner's own org), most urgent first."""
    user = current_user()
    now = utcnow()
    referrals, details, cursor = service.stepdowns(user, args, now)
    items = []
    for referral in referrals:
        audit.record("stepdown.list", "referral", referral.id)
        detail = details[referral.id]
        placement = detail["placement"]
        items.append(_STEPDOWN.dump({
            "referral_id": referral.id,
            "organization_id": referral.organization_id,
            "status": referral.status,
            "need": referral.need,
            "payer_id": referral.payer_id,
            "discharge_date": referral.discharge_date,
            "days_since_discharge": detail["days_since_discharge"],
            "next_check": detail["next_check"],
            "overdue": bool(detail["overdue_checks"]),
            "overdue_checks": detail["overdue_checks"],
            "missed": bool(detail["missed_checks"]),
            "missed_checks": detail["missed_checks"],
            "placement_id": placement.id if placement else None,
            "program_id": placement.program_id if placement else None,
            "intake_date": placement.intake_date if placement else None,
            "last_attended_on": detail["last_attended_on"],
            "last_contact_at": detail["last_contact_at"],
            "part2_notice": policy.part2_notice_for(user, referral),
        }))
    return json_response({"items": items, "next_cursor": cursor})


@blp.route("/metrics", methods=["GET"])
@require_roles(*DASHBOARD_ROLES)
@blp.arguments(MetricsQuerySchema, location="query")
@blp.response(200, MetricsSchema)
def get_metrics(args):
    """Follow-up, initiation, engagement, acceptance and readmission rates for referrals discharged from..to."""
    user = current_user()
    result = service.metrics(user, args, utcnow())
    audit.record("metrics.read", "metrics", None)
    return json_response(_METRICS.dump(result))
