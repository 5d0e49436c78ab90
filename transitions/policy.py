"""The one place that decides who may see what, who may do what to which object, and who hears of an event.

Visibility is a SQL clause per object type (every read and list uses it, so another organization's object is a 404).
Permission is a Policy per action: the roles that may reach the action at all (API and web decorators read them,
so a role outside them gets 403 before anything is parsed) and, per role, the rule an object must pass (the use-case
commands call `require`, which audits a denial; pages and templates call `allows` to show or hide a control).
Adding a role to an action is one line in that action's rules.
"""

from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, exists, false, or_, select, true

from transitions.core import audit
from transitions.core.db import db, json_array_contains
from transitions.core.errors import Forbidden, NotFound
from transitions.core.nul import looks_like_id
from transitions.directory.models import Program, Track
from transitions.discharges.models import Discharge
from transitions.identity.models import Organization, User, is_adt_feed
from transitions.notify.models import Event, Webhook
from transitions.offers.models import Offer, Placement
from transitions.referrals.consent import PART2_NOTICE
from transitions.referrals.models import Referral


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


# For these roles, the visibility clauses in ORGANIZATION_SCOPED_VISIBILITY (below the functions) depend on the
# user's organization alone: a lookup through them is built once per organization and reused, SQLAlchemy's cache key
# with it. A rule of these roles that came to depend on anything else (as a case manager's does on the plan's payer
# ids) must leave that set.
ORGANIZATION_SCOPED_ROLES = ("admin", "discharge_planner")
_LOOKUPS = {}
_LOOKUPS_MAX = 4096


def _lookup_statement(user, model, visibility):
    """select(model) of the row with id :lookup_id among those visibility(user) selects."""
    key = None
    if user.role in ORGANIZATION_SCOPED_ROLES and visibility in ORGANIZATION_SCOPED_VISIBILITY:
        key = (model, visibility, user.role, user.organization_id)
        statement = _LOOKUPS.get(key)
        if statement is not None:
            return statement
    statement = select(model).where(model.id == bindparam("lookup_id"), visibility(user))
    if key is not None:
        if len(_LOOKUPS) >= _LOOKUPS_MAX:
            _LOOKUPS.clear()
        _LOOKUPS[key] = statement
    return statement


def audited_lookup(user, model, object_type, object_id, visibility, action):
    """Load one row of model the user may see (visibility(user) is its clause); anything else is 404 and an audited
    denial."""
    row = None
    if looks_like_id(object_id):
        row = db.session.scalar(_lookup_statement(user, model, visibility), {"lookup_id": object_id})
    if row is None:
        audit.record(action, object_type, str(object_id)[:64], outcome="denied", user=user)
        raise NotFound(f"No {object_type} with this id.")
    audit.record(action, object_type, row.id, user=user)
    return row


def get_referral(user, referral_id, action="referral.read"):
    """Load a referral the user may see; anything else is 404 and an audited denial."""
    return audited_lookup(user, Referral, "referral", referral_id, referral_visibility, action)


def referral_disclosure(user, referral):
    """How much of a referral the user sees: 'full' for the referring org, plan and admins; 'provider' else."""
    if user.role == "iop_coordinator":
        return "provider"
    return "full"


def timeline_visibility(user, referral):
    """A WHERE clause on the referral's events: every one for a full disclosure; for a provider, the referral's own
    status changes and the events of the offers and placements it may read elsewhere (never the competing offers to
    other providers, nor follow-ups, contacts and readmissions, which it cannot read at all)."""
    if referral_disclosure(user, referral) == "full":
        return true()
    return or_(
        Event.subject_type == "referral",
        and_(Event.subject_type == "offer", Event.subject_id.in_(select(Offer.id).where(offer_visibility(user)))),
        and_(
            Event.subject_type == "placement",
            Event.subject_id.in_(select(Placement.id).where(placement_visibility(user))),
        ),
    )


def discloses_event_data(user, referral, event):
    """Whether the event's data travels to this viewer. A provider sees the referral's status changes but not their
    data: a cancellation's free-text reason, the fields a planner changed, or the ids of another provider's offer
    and placement."""
    return referral_disclosure(user, referral) == "full" or event.subject_type != "referral"


def part2_notice_for(user, referral):
    """The 42 CFR 2.32 notice travels with every disclosure of a SUD referral outside its org."""
    if referral.is_substance_use and user.organization_id != referral.organization_id:
        return PART2_NOTICE
    return None


def discharge_visibility(user):
    """A WHERE clause selecting the discharges without referral this user may read: the facility organization's
    planners, the case managers of the plan that follows the member's payer, admins; nobody else (a provider never
    had an offer for it)."""
    if user.role == "admin":
        return true()
    if user.role == "discharge_planner":
        return Discharge.organization_id == user.organization_id
    if user.role == "case_manager":
        payer_ids = list(user.organization.payer_ids or [])
        return Discharge.payer_id.in_(payer_ids) if payer_ids else false()
    return false()


def get_discharge(user, discharge_id, action="discharge.read"):
    """Load a discharge without referral the user may see; anything else is 404 and an audited denial."""
    return audited_lookup(user, Discharge, "discharge", discharge_id, discharge_visibility, action)


def public_lookup(model, object_type, object_id):
    """Load one row of a directory model, public to every user; an unknown id is a 404."""
    row = db.session.get(model, str(object_id)) if looks_like_id(object_id) else None
    if row is None:
        raise NotFound(f"No {object_type} with this id.")
    return row


def get_program(program_id):
    return public_lookup(Program, "program", program_id)


def get_track(track_id):
    return public_lookup(Track, "track", track_id)


def placement_visibility(user):
    """Placements are visible to whoever may see their referral, and to the program's coordinators."""
    if user.role == "iop_coordinator":
        return Placement.program_id.in_(select(Program.id).where(Program.organization_id == user.organization_id))
    return Placement.referral_id.in_(select(Referral.id).where(referral_visibility(user)))


def offer_visibility(user):
    """A coordinator sees the offers made to its programs; anyone else the offers of the referrals it may see.

    Which roles may read or act on offers at all is each action's Policy (READ_OFFERS names the two sides of an
    offer), so this clause only decides which offers exist for a user who got that far.
    """
    if user.role == "admin":
        return true()
    if user.role == "iop_coordinator":
        return Offer.program_id.in_(select(Program.id).where(Program.organization_id == user.organization_id))
    return Offer.referral_id.in_(select(Referral.id).where(referral_visibility(user)))


ORGANIZATION_SCOPED_VISIBILITY = frozenset(
    {referral_visibility, discharge_visibility, offer_visibility, placement_visibility}
)


def get_offer(user, offer_id, action="offer.read"):
    """Load an offer the user may see; anything else is 404 and an audited denial."""
    return audited_lookup(user, Offer, "offer", offer_id, offer_visibility, action)


def get_placement(user, placement_id, action="placement.read"):
    """Load a placement the user may see; anything else is 404 and an audited denial."""
    return audited_lookup(user, Placement, "placement", placement_id, placement_visibility, action)


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
    else:
        owner = db.session.scalar(select(Program.organization_id).where(Program.id == obj.program_id))
    return owner == user.organization_id


def of_own_organization(user, obj):
    """Objects that belong to the user's own organization (an organization itself, a webhook, a user)."""
    organization_id = obj.id if isinstance(obj, Organization) else obj.organization_id
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


# What a 403 says: who may do this instead.
PLANNERS = "Only the referring organization's discharge planners may do this."
COORDINATORS = "Only coordinators of the program's provider organization may do this."
OFFER_COORDINATORS = "Only coordinators of the program this offer was made to may do this."
PLACEMENT_COORDINATORS = "Only coordinators of the placement's program may do this."
PROGRAM_OWNERS = "Only coordinators of the program's provider organization may change it."
NOT_FOR_YOUR_ROLE = "Not available for your role."

# Rules shared by several actions. The referring organization's planners (and admins) act on a referral and its
# offers; the program's provider's coordinators (and admins) on its program, offers and placements; every role acts
# on its own organization's objects (admins on anyone's). A rule dict's order is the order a 403 names the roles in.
REFERRING_PLANNERS = {"discharge_planner": of_referring_organization, "admin": anyone}
PROGRAM_COORDINATORS = {"iop_coordinator": of_program_organization, "admin": anyone}
OWN_ORGANIZATION_MEMBERS = {
    "discharge_planner": of_own_organization,
    "case_manager": of_own_organization,
    "iop_coordinator": of_own_organization,
    "admin": anyone,
}
# The referral's side (every role but the providers'), an offer's two sides, and the health plans.
REFERRAL_SIDE = {"discharge_planner": anyone, "case_manager": anyone, "admin": anyone}
OFFER_SIDES = {"discharge_planner": anyone, "iop_coordinator": anyone, "admin": anyone}
CASE_MANAGERS = {"case_manager": anyone, "admin": anyone}

SUBMIT_REFERRAL = Policy(
    "referral.create", "referral", "Only discharge planners submit referrals.", {"discharge_planner": anyone}
)
BROWSE_REFERRALS = Policy("referral.list", "referral", NOT_FOR_YOUR_ROLE, REFERRAL_SIDE)
CHANGE_REFERRAL = Policy("referral.update", "referral", PLANNERS, REFERRING_PLANNERS)
CANCEL_REFERRAL = Policy("referral.cancel", "referral", PLANNERS, REFERRING_PLANNERS)
REVOKE_CONSENT = Policy("referral.consent_revoke", "referral", PLANNERS, REFERRING_PLANNERS)
SEND_OFFER = Policy("offer.create", "referral", PLANNERS, REFERRING_PLANNERS)
# Judged on the offer's referral (require(user, referral)), so a denial is audited against the referral.
WITHDRAW_OFFER = Policy("offer.withdraw", "referral", PLANNERS, REFERRING_PLANNERS)
READ_OFFERS = Policy("offer.read", "offer", "Offers are for the two sides of them.", OFFER_SIDES)
DECIDE_OFFER = Policy("offer.accept", "offer", OFFER_COORDINATORS, PROGRAM_COORDINATORS)
MANAGE_PLACEMENT = Policy("placement.attendance", "placement", PLACEMENT_COORDINATORS, PROGRAM_COORDINATORS)
RECORD_READMISSION = Policy(
    "referral.readmission",
    "referral",
    "Only the referring organization's planners or the patient's case managers may do this.",
    # a case manager who found the referral sees it because it is their plan's member
    {"discharge_planner": of_referring_organization, "case_manager": anyone, "admin": anyone},
)
# An admission another organization's ADT feed reports of the same plan member (the feed matched patient and
# coverage): the feed records the readmission on the referral it cannot otherwise read, and nothing more.
REPORT_ADMISSION = Policy(
    "referral.readmission",
    "referral",
    "Only an ADT feed reports an admission to another organization.",
    {"discharge_planner": lambda user, referral: is_adt_feed(user)},
)
REPORT_ADMISSION_ON_DISCHARGE = Policy(
    "discharge.readmission",
    "discharge",
    "Only an ADT feed reports an admission to another organization.",
    {"discharge_planner": lambda user, discharge: is_adt_feed(user)},
)
FIND_MATCHES = Policy("referral.match", "referral", NOT_FOR_YOUR_ROLE, REFERRAL_SIDE)
ALLOCATE = Policy("allocation.run", "allocation", NOT_FOR_YOUR_ROLE, CASE_MANAGERS)
LOOK_UP_CODES = Policy("codes.search", "code", NOT_FOR_YOUR_ROLE, REFERRAL_SIDE)
PUBLISH_PROGRAM = Policy("program.create", "program", COORDINATORS, {"iop_coordinator": anyone, "admin": anyone})
# Publishes programs for, and lists the programs of, any provider organization (others act for their own).
ACT_FOR_ANY_PROVIDER = Policy(
    "program.create", "organization", "Coordinators create programs for their own organization.", {"admin": anyone}
)
EDIT_PROGRAM = Policy("program.update", "program", PROGRAM_OWNERS, PROGRAM_COORDINATORS)
# Hands an imported (unconfirmed) program to the provider organization that runs it.
CLAIM_PROGRAM = Policy(
    "program.claim", "program", "Only administrators hand a program to a provider.", {"admin": anyone}
)
# HL7 v2 ADT over HTTP: a planner speaks for their own organization's registered facilities, an admin for any.
SEND_ADT = Policy(
    "adt.receive",
    "adt_message",
    "Only discharge planners and administrators send ADT messages.",
    {"discharge_planner": anyone, "admin": anyone},
)
READ_ADT = Policy("adt.read", "adt_message", "Only administrators read the ADT inbox.", {"admin": anyone})
CONTACT_FOLLOWUP = Policy("followup.contact", "followup", "Only case managers record outreach.", CASE_MANAGERS)
# Discharges without referral: every role may ask (a provider's list is empty and an id a 404, as for another
# organization's referral); discharge_visibility decides which exist for whom.
READ_DISCHARGES = Policy(
    "discharge.read",
    "discharge",
    NOT_FOR_YOUR_ROLE,
    {"case_manager": anyone, "discharge_planner": anyone, "iop_coordinator": anyone, "admin": anyone},
)
RECORD_VISIT = Policy(
    "discharge.visit", "discharge", "Only the member's case managers record follow-up visits.", CASE_MANAGERS
)
# REFERRAL_SIDE's roles in an order of their own: the 403 and the pages name case managers first here.
VIEW_DASHBOARDS = Policy(
    "dashboard.read",
    "dashboard",
    NOT_FOR_YOUR_ROLE,
    {"case_manager": anyone, "discharge_planner": anyone, "admin": anyone},
)
ADMINISTER = Policy("admin", "organization", "Only administrators may do this.", {"admin": anyone})
# Admins read every organization; everyone else their own (another one is a 404, as if it did not exist).
READ_ORGANIZATION = Policy(
    "organization.read", "organization", "No organization with this id.", OWN_ORGANIZATION_MEMBERS
)
MANAGE_WEBHOOKS = Policy(
    "webhook.update", "webhook", "Webhooks belong to your own organization.", OWN_ORGANIZATION_MEMBERS
)


def webhook_visibility(user):
    """A WHERE clause selecting the webhooks this user sees and manages: their organization's (admins: every one)."""
    if user.role == "admin":
        return true()
    return Webhook.organization_id == user.organization_id


# ---------------------------------------------------------------- who hears of an event

# Which events a provider organization hears: its own offers, and its placed patient's course.
PROVIDER_OFFER_EVENTS = ("offer.created", "offer.accepted", "offer.declined", "offer.expired")
PROVIDER_PLACEMENT_EVENTS = ("referral.placed", "attendance.lapsed", "referral.readmitted")


def plan_follows(organization, referral):
    """The health plan pays for the referral: in Python, the case_manager branch of referral_visibility."""
    return (
        organization.kind == "health_plan"
        and not referral.self_pay
        and referral.payer_id is not None
        and referral.payer_id in (organization.payer_ids or [])
    )


def event_offer_id(event):
    """The offer an event is about, if any: its subject, or the offer_id in its data."""
    if event.subject_type == "offer":
        return event.subject_id
    return (event.data or {}).get("offer_id")


def provider_reach(referral_ids):
    """The providers of these referrals: (offer id -> organization offered to, referral id -> organization placed with).

    The iop_coordinator branch of referral_visibility (an offer to one of the organization's programs), as facts.
    """
    offer_providers, placed_providers = {}, {}
    for row in db.session.execute(
        select(Offer.id, Offer.referral_id, Offer.status, Program.organization_id)
        .join(Program, Program.id == Offer.program_id)
        .where(Offer.referral_id.in_(referral_ids))
    ):
        offer_providers[row.id] = row.organization_id
        if row.status == "accepted":
            placed_providers[row.referral_id] = row.organization_id
    return offer_providers, placed_providers


def organizations_hearing(event, referral, organizations, offer_providers, placed_provider):
    """Ids of the organizations that may hear of this event about this referral (webhooks, and e-mail alike).

    The reach of referral_visibility: the referring organization (its planners see the referral) and the health
    plans among `organizations` whose payer_ids hold the referral's payer_id, unless self-pay (its case managers),
    hear everything about the referral. A provider sees a referral once offered to; it hears the minimum it needs:
    about its own offers (PROVIDER_OFFER_EVENTS; `offer_providers` from provider_reach) and, once it holds the
    placement (`placed_provider`), about that patient's placement, lapses and readmission.
    """
    heard = {referral.organization_id}
    for organization in organizations.values():
        if plan_follows(organization, referral):
            heard.add(organization.id)
    if event.type in PROVIDER_OFFER_EVENTS:
        offer_provider = offer_providers.get(event_offer_id(event))
        if offer_provider:
            heard.add(offer_provider)
    if event.type in PROVIDER_PLACEMENT_EVENTS and placed_provider:
        heard.add(placed_provider)
    return heard


# ---------------------------------------------------------------- who gets mail about an event

# The events people get mail about (SPEC "Notifications to people"), and per role the ones that concern its people:
# the default of a user's preferences, and all a user of that role can ever be mailed about.
MAIL_EVENTS = (
    "offer.created",
    "offer.expiring",
    "offer.accepted",
    "offer.declined",
    "offer.expired",
    "followup.missed",
    "attendance.lapsed",
    "referral.readmitted",
    "track.seats_unconfirmed",
)
MAIL_EVENTS_BY_ROLE = {
    "iop_coordinator": ("offer.created", "offer.expiring", "track.seats_unconfirmed"),
    "discharge_planner": ("offer.accepted", "offer.declined", "offer.expired", "followup.missed"),
    "case_manager": ("followup.missed", "attendance.lapsed", "referral.readmitted"),
    "admin": (),
}
# Which people hear an event: the coordinators of the program an offer was made to, the planner who submitted the
# referral, the case managers of the plans that pay for it.
MAIL_AUDIENCES = {
    "offer.created": ("program_coordinators",),
    "offer.expiring": ("program_coordinators",),
    "offer.accepted": ("submitting_planner",),
    "offer.declined": ("submitting_planner",),
    "offer.expired": ("submitting_planner",),
    "followup.missed": ("submitting_planner", "plan_case_managers"),
    "attendance.lapsed": ("plan_case_managers",),
    "referral.readmitted": ("plan_case_managers",),
    # About a program, not a referral: mailed by track_mail_recipients, never with a patient in it.
    "track.seats_unconfirmed": ("program_coordinators",),
}


def mail_recipients(event, referral, offer_provider):
    """The active users to mail about this event of this referral (before their own preferences), as a query.

    `offer_provider` is the organization the event's offer was made to (provider_reach), or None. Every recipient
    must also pass referral_visibility (mailable_to): nobody hears of a referral they may not open.
    """
    audiences = MAIL_AUDIENCES.get(event.type, ())
    clauses = []
    if "program_coordinators" in audiences and offer_provider:
        clauses.append(and_(User.role == "iop_coordinator", User.organization_id == offer_provider))
    if "submitting_planner" in audiences:
        clauses.append(
            and_(
                User.id == referral.created_by,
                User.role == "discharge_planner",
                User.organization_id == referral.organization_id,
            )
        )
    if "plan_case_managers" in audiences and referral.payer_id and not referral.self_pay:
        paying_plans = select(Organization.id).where(
            Organization.kind == "health_plan", json_array_contains(Organization.payer_ids, referral.payer_id)
        )
        clauses.append(and_(User.role == "case_manager", User.organization_id.in_(paying_plans)))
    if not clauses:
        return None
    return select(User).where(User.active.is_(True), or_(*clauses)).order_by(User.id)


def discharge_mail_recipients(discharge):
    """The active case managers of the plans that follow a discharge without referral's payer (before their own
    preferences), as a query: who is mailed its followup.missed (there is no submitting planner to tell)."""
    paying_plans = select(Organization.id).where(
        Organization.kind == "health_plan", json_array_contains(Organization.payer_ids, discharge.payer_id)
    )
    return (
        select(User)
        .where(User.active.is_(True), User.role == "case_manager", User.organization_id.in_(paying_plans))
        .order_by(User.id)
    )


def discharge_mailable_to(user, discharge_id):
    """The user may read the discharge without referral (discharge_visibility): the last check before mail is queued."""
    return db.session.scalar(select(exists().where(Discharge.id == discharge_id, discharge_visibility(user))))


def organizations_hearing_discharge(discharge, organizations):
    """Ids of the organizations whose webhooks hear of a discharge without referral's events: the facility's and the
    plans among `organizations` that follow its payer (discharge_visibility, as facts)."""
    heard = {discharge.organization_id}
    for organization in organizations.values():
        if organization.kind == "health_plan" and discharge.payer_id in (organization.payer_ids or []):
            heard.add(organization.id)
    return heard


def mailable_to(user, referral_id):
    """The user may read the referral (referral_visibility, the one rule): the last check before mail is queued."""
    return db.session.scalar(select(exists().where(Referral.id == referral_id, referral_visibility(user))))


def track_mail_recipients(program):
    """The active coordinators of the organization that runs this program (before their own preferences), as a
    query: who is reminded that one of its tracks' seat counts is unconfirmed."""
    return (
        select(User)
        .where(User.active.is_(True), User.role == "iop_coordinator", User.organization_id == program.organization_id)
        .order_by(User.id)
    )
