"""The one place that decides who may see what, who may do what to which object, and who hears of an event.

Visibility is a SQL clause per object type (every read and list uses it, so another organization's object is a 404).
Permission is a Policy per action: the roles that may reach the action at all (API and web decorators read them,
so a role outside them gets 403 before anything is parsed) and, per role, the rule an object must pass (the use-case
commands call `require`, which audits a denial; pages and templates call `allows` to show or hide a control).
Adding a role to an action is one line in that action's rules.
"""
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, false, select, true

from transitions.core import audit
from transitions.core.db import db
from transitions.core.errors import Forbidden, NotFound
from transitions.directory.models import Program, Track
from transitions.offers.models import Offer, Placement
from transitions.referrals.models import Referral

PART2_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony that "
    "describes the information contained in this record, in any civil, criminal, administrative, or "
    "legislative proceedings by any Federal, State, or local authority, against the patient, unless "
    "authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) and 2.65; or unless "
    "authorized by a court in accordance with 42 CFR 2.64 or 2.65. In addition, the Federal rules prohibit "
    "you from making any other use or disclosure of this record unless at least one of the following "
    "applies: (1) further use or disclosure is expressly permitted by the written consent of the individual "
    "whose information is being disclosed in this record or as otherwise permitted by 42 CFR part 2; "
    "(2) you are a covered entity or business associate and have received the record for treatment, payment, "
    "or health care operations; or (3) you have received the record from a covered entity or business "
    "associate as permitted by 45 CFR part 164, subparts A and E. A general authorization for the release of "
    "medical or other information is NOT sufficient to meet the required elements of written consent to "
    "further use or redisclose the record (see 42 CFR 2.31)."
)


def referral_visibility(user):
    """A WHERE clause selecting exactly the referrals this user may read."""
    if user.role == "admin":
        return true()
    if user.role == "discharge_planner":
        return Referral.organization_id == user.organization_id
    if user.role == "case_manager":
        payer_ids = list(user.organization.payer_ids or [])
        if not payer_ids:
            return false()
        return and_(Referral.payer_id.in_(payer_ids), Referral.self_pay.is_(False))
    if user.role == "iop_coordinator":
        offered_to_my_programs = (
            select(Offer.id)
            .join(Program, Program.id == Offer.program_id)
            .where(Offer.referral_id == Referral.id, Program.organization_id == user.organization_id)
        )
        return exists(offered_to_my_programs)
    return false()


def visible_referrals(user):
    return select(Referral).where(referral_visibility(user))


def get_referral(user, referral_id, action="referral.read"):
    """Load a referral the user may see; anything else is 404 and an audited denial."""
    referral = None
    if _looks_like_id(referral_id):
        referral = db.session.scalar(
            select(Referral).where(Referral.id == referral_id, referral_visibility(user))
        )
    if referral is None:
        audit.record(action, "referral", str(referral_id)[:64], outcome="denied", user=user)
        raise NotFound("No referral with this id.")
    audit.record(action, "referral", referral.id, user=user)
    return referral


def ensure_can_change_referral(user, referral, action):
    """Only the referring org's planners (and admins) change a referral."""
    if user.role == "admin":
        return
    if user.role == "discharge_planner" and referral.organization_id == user.organization_id:
        return
    audit.record(action, "referral", referral.id, outcome="denied", user=user)
    raise Forbidden("Only the referring organization's discharge planners may do this.")


def referral_disclosure(user, referral):
    """How much of a referral the user sees: 'full' for the referring org, plan and admins; 'provider' else."""
    if user.role == "iop_coordinator":
        return "provider"
    return "full"


def part2_notice_for(user, referral):
    """The 42 CFR 2.32 notice travels with every disclosure of a SUD referral outside its org."""
    if referral.is_substance_use and user.organization_id != referral.organization_id:
        return PART2_NOTICE
    return None


def get_program(program_id):
    program = db.session.get(Program, str(program_id)) if _looks_like_id(program_id) else None
    if program is None:
        raise NotFound("No program with this id.")
    return program


def get_track(track_id):
    track = db.session.get(Track, str(track_id)) if _looks_like_id(track_id) else None
    if track is None:
        raise NotFound("No track with this id.")
    return track


def ensure_can_edit_program(user, program):
    """The directory is public to every user; only the owning provider's coordinators and admins edit it."""
    if user.role == "admin":
        return
    if user.role == "iop_coordinator" and program.organization_id == user.organization_id:
        return
    raise Forbidden("Only coordinators of the program's provider organization may change it.")


def placement_visibility(user):
    """Placements are visible to whoever may see their referral, and to the program's coordinators."""
    if user.role == "iop_coordinator":
        return Placement.program_id.in_(
            select(Program.id).where(Program.organization_id == user.organization_id)
        )
    return Placement.referral_id.in_(select(Referral.id).where(referral_visibility(user)))


def offer_visibility(user):
    """The two sides of an offer: the referring org's planners and the program's coordinators (and admins)."""
    if user.role == "admin":
        return true()
    if user.role == "discharge_planner":
        return Offer.referral_id.in_(select(Referral.id).where(Referral.organization_id == user.organization_id))
    if user.role == "iop_coordinator":
        return Offer.program_id.in_(select(Program.id).where(Program.organization_id == user.organization_id))
    return false()


def get_offer(user, offer_id, action="offer.read"):
    """Load an offer the user may see; anything else is 404 and an audited denial."""
    offer = None
    if _looks_like_id(offer_id):
        offer = db.session.scalar(select(Offer).where(Offer.id == offer_id, offer_visibility(user)))
    if offer is None:
        audit.record(action, "offer", str(offer_id)[:64], outcome="denied", user=user)
        raise NotFound("No offer with this id.")
    audit.record(action, "offer", offer.id, user=user)
    return offer


def _is_program_coordinator(user, program_id):
    return user.role == "iop_coordinator" and db.session.scalar(
        select(Program.organization_id).where(Program.id == program_id)) == user.organization_id


def ensure_can_decide_offer(user, offer, action):
    """Accept and decline belong to the coordinators of the offer's program (and admins)."""
    if user.role == "admin" or _is_program_coordinator(user, offer.program_id):
        return
    audit.record(action, "offer", offer.id, outcome="denied", user=user)
    raise Forbidden("Only coordinators of the program this offer was made to may do this.")


def get_placement(user, placement_id, action="placement.read"):
    """Load a placement the user may see; anything else is 404 and an audited denial."""
    placement = None
    if _looks_like_id(placement_id):
        placement = db.session.scalar(
            select(Placement).where(Placement.id == placement_id, placement_visibility(user)))
    if placement is None:
        audit.record(action, "placement", str(placement_id)[:64], outcome="denied", user=user)
        raise NotFound("No placement with this id.")
    audit.record(action, "placement", placement.id, user=user)
    return placement


def ensure_can_manage_placement(user, placement, action):
    """Attendance and IOP discharge belong to the coordinators of the placement's program (and admins)."""
    if user.role == "admin" or _is_program_coordinator(user, placement.program_id):
        return
    audit.record(action, "placement", placement.id, outcome="denied", user=user)
    raise Forbidden("Only coordinators of the placement's program may do this.")


def ensure_can_record_readmission(user, referral, action):
    """Planners of the referring org and case managers of the patient's plan report readmissions (and admins)."""
    if user.role in ("admin", "case_manager"):
        return  # a case manager reaching here can already see the referral: it is their plan's member
    if user.role == "discharge_planner" and referral.organization_id == user.organization_id:
        return
    audit.record(action, "referral", referral.id, outcome="denied", user=user)
    raise Forbidden("Only the referring organization's planners or the patient's case managers may do this.")


def _looks_like_id(value):
    # PostgreSQL refuses NUL in text outright: such a value can name nothing, and must not reach a query.
    return isinstance(value, str) and 0 < len(value) <= 36 and "\x00" not in value


# ---------------------------------------------------------------- permissions: one Policy per action


def anyone(user, obj):
    """Any user of the role, once the object's lookup has already applied visibility."""
    return True


def of_referring_organization(user, obj):
    """The referral's (or the offer's referral's) own organization."""
    referral = obj if isinstance(obj, Referral) else db.session.get(Referral, obj.referral_id)
    return referral.organization_id == user.organization_id


def of_program_organization(user, obj):
    """The provider organization that runs the object's program (a program, track, offer or placement)."""
    if isinstance(obj, Program):
        owner = obj.organization_id
    elif isinstance(obj, Track):
        owner = db.session.scalar(select(Program.organization_id).where(Program.id == obj.program_id))
    else:
        owner = db.session.scalar(select(Program.organization_id).where(Program.id == obj.program_id))
    return owner == user.organization_id


def of_own_organization(user, obj):
    """Objects that belong to the user's own organization (an organization itself, a webhook, a user)."""
    organization_id = obj.id if obj.__class__.__name__ == "Organization" else obj.organization_id
    return organization_id == user.organization_id


@dataclass(frozen=True)
class Policy:
    """Who may do one action: per role, the rule an object must pass; roles not listed may not act at all."""

    action: str
    object_type: str
    denial: str
    rules: dict = field(default_factory=dict)

    @property
    def roles(self):
        return tuple(self.rules)

    def allows(self, user, obj=None):
        """True if this user may act (on obj, when given); for pages and templates, never audited."""
        rule = self.rules.get(getattr(user, "role", None))
        if rule is None:
            return False
        return obj is None or rule(user, obj)

    def require(self, user, obj=None, action=None):
        """Raise an audited 403 unless the user may act on obj."""
        if self.allows(user, obj):
            return
        if obj is not None:
            audit.record(action or self.action, self.object_type, obj.id, outcome="denied", user=user)
        raise Forbidden(self.denial)


PLANNERS = "Only the referring organization's discharge planners may do this."
COORDINATORS = "Only coordinators of the program's provider organization may do this."

SUBMIT_REFERRAL = Policy("referral.create", "referral", "Only discharge planners submit referrals.",
                         {"discharge_planner": anyone})
BROWSE_REFERRALS = Policy("referral.list", "referral", "Not available for your role.",
                          {"discharge_planner": anyone, "case_manager": anyone, "admin": anyone})
CHANGE_REFERRAL = Policy("referral.update", "referral", PLANNERS,
                         {"discharge_planner": of_referring_organization, "admin": anyone})
CANCEL_REFERRAL = Policy("referral.cancel", "referral", PLANNERS,
                         {"discharge_planner": of_referring_organization, "admin": anyone})
REVOKE_CONSENT = Policy("referral.consent_revoke", "referral", PLANNERS,
                        {"discharge_planner": of_referring_organization, "admin": anyone})
SEND_OFFER = Policy("offer.create", "referral", PLANNERS,
                    {"discharge_planner": of_referring_organization, "admin": anyone})
WITHDRAW_OFFER = Policy("offer.withdraw", "offer", PLANNERS,
                        {"discharge_planner": of_referring_organization, "admin": anyone})
READ_OFFERS = Policy("offer.read", "offer", "Offers are for the two sides of them.",
                     {"discharge_planner": anyone, "iop_coordinator": anyone, "admin": anyone})
DECIDE_OFFER = Policy("offer.accept", "offer", "Only coordinators of the program this offer was made to may do this.",
                      {"iop_coordinator": of_program_organization, "admin": anyone})
MANAGE_PLACEMENT = Policy("placement.attendance", "placement",
                          "Only coordinators of the placement's program may do this.",
                          {"iop_coordinator": of_program_organization, "admin": anyone})
RECORD_READMISSION = Policy("referral.readmission", "referral",
                            "Only the referring organization's planners or the patient's case managers may do this.",
                            # a case manager who found the referral sees it because it is their plan's member
                            {"discharge_planner": of_referring_organization, "case_manager": anyone,
                             "admin": anyone})
FIND_MATCHES = Policy("referral.matches", "referral", "Not available for your role.",
                      {"discharge_planner": anyone, "case_manager": anyone, "admin": anyone})
ALLOCATE = Policy("allocation.run", "allocation", "Not available for your role.",
                  {"case_manager": anyone, "admin": anyone})
EDIT_PROGRAM = Policy("program.update", "program", COORDINATORS,
                      {"iop_coordinator": of_program_organization, "admin": anyone})
CONTACT_FOLLOWUP = Policy("followup.contact", "followup", "Only case managers record outreach.",
                          {"case_manager": anyone, "admin": anyone})
VIEW_DASHBOARDS = Policy("dashboard.read", "dashboard", "Not available for your role.",
                         {"case_manager": anyone, "discharge_planner": anyone, "admin": anyone})
ADMINISTER = Policy("admin", "organization", "Only administrators may do this.", {"admin": anyone})
