"""What every step of the ADT feed shares: what became of a message, a listener batch's memo, the sending
facility's organization and its feed user, and the referrals of a message's patient."""

from dataclasses import dataclass

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.exc import IntegrityError

from transitions.adt import hl7v2
from transitions.core.db import db, json_array_contains
from transitions.discharges.models import same_name
from transitions.identity.models import ADT_FEED_EMAIL, HL7_FACILITY_KINDS, Organization, User
from transitions.identity.tokens import generate_token, hash_token
from transitions.referrals.models import OPEN_REFERRAL_STATUSES, Referral

# session.info key of a batch's memo (batch.py): the facility organizations and feed users already read in its one
# transaction, so each message of the batch after the first takes them from there instead of a query; and the
# referrals whose discharge a message of the batch reported (DISCHARGED), whose stored rows say so only at its end.
MEMO = "adt_memo"
DISCHARGED = "discharged_referrals"


@dataclass
class Outcome:
    """What became of a message: its state, the ACK code, why, the field at fault, and the referral it touched."""

    state: str
    ack_code: str
    reason: str | None = None
    field: str | None = None
    error: tuple | None = None
    referral_id: str | None = None


def why(error):
    """The domain's own words: each field's messages where it named fields (its detail alone says only that some
    were invalid), else its detail."""
    if not error.errors:
        return error.detail
    return " ".join(
        str(message)
        for messages in error.errors.values()
        for message in (messages if isinstance(messages, list) else [messages])
    )


def facility_organization(facility_id, strict=True):
    """The hospital or residential organization that registered this sending facility; AR for none or several."""
    memo = db.session.info.get(MEMO)
    if memo is not None and _in_session(memo.get(("facility", facility_id))):
        return memo["facility", facility_id]
    organizations = db.session.scalars(
        select(Organization)
        .where(
            json_array_contains(Organization.hl7_facility_ids, facility_id), Organization.kind.in_(HL7_FACILITY_KINDS)
        )
        .limit(2)
    ).all()
    if len(organizations) == 1:
        if memo is not None:
            memo["facility", facility_id] = organizations[0]
        return organizations[0]
    if not strict:
        return None
    problem = "is registered to no organization" if not organizations else "is registered to more than one organization"
    raise hl7v2.Refusal("AR", "MSH-4", hl7v2.UNKNOWN_KEY, "The sending facility %s %s." % (facility_id, problem))


def reported_discharge_of(referral_id):
    """Remember, for the rest of a listener batch, that this referral's discharge was reported: an admission
    elsewhere later in the batch then counts it as one that happened, as it would once the batch's rows are written.
    (Alone, a message's row is written before the next message is read.)"""
    memo = db.session.info.get(MEMO)
    if memo is not None:
        memo.setdefault(DISCHARGED, set()).add(referral_id)


def open_referral(organization, patient):
    """The patient's newest open referral from this organization (referrals_of), or None."""
    matches = referrals_of(organization, patient, OPEN_REFERRAL_STATUSES)
    return matches[0] if matches else None


# Built once, its values bound: constructing the statement and its cache key cost as much as running it.
_REFERRALS_OF_PATIENT = (
    select(
        Referral.id,
        Referral.given_name,
        Referral.family_name,
        Referral.status,
        Referral.discharge_date,
        Referral.created_at,
    )
    .where(
        Referral.organization_id == bindparam("organization_id"),
        Referral.birth_date == bindparam("birth_date"),
        Referral.status.in_(bindparam("statuses", expanding=True)),
    )
    .order_by(Referral.created_at.desc(), Referral.id)
)


def referrals_of(organization, patient, statuses):
    """The organization's referrals for this patient: the same birth date and names compared as the duplicate-
    referral rule compares them (case and spacing aside), the given name as the message's first given name or with its
    further given names ("Maria" or "Maria Elena" for PID-5 Lopez^Maria^Elena). Rows of the few columns the feed
    decides by, not referrals: the command that acts on one reads it through the policy, as every entry point does."""
    rows = db.session.execute(
        _REFERRALS_OF_PATIENT,
        {"organization_id": organization.id, "birth_date": patient.birth_date, "statuses": list(statuses)},
    ).all()
    givens = {same_name(given) for given in patient.given_names}
    family = same_name(patient.family_name)
    return [row for row in rows if same_name(row.given_name) in givens and same_name(row.family_name) == family]


def _in_session(row):
    """A memo's row still belongs to the session (a rolled-back savepoint may have dropped it)."""
    return row is not None and inspect(row).persistent


def feed_actor(organization):
    """The organization's ADT feed user (made on first use; a concurrent first use finds the other's)."""
    email = ADT_FEED_EMAIL % organization.id
    memo = db.session.info.get(MEMO)
    if memo is not None and _in_session(memo.get(("feed", email))):
        return memo["feed", email]
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        if memo is not None:
            memo["feed", email] = user
        return user
    try:
        with db.session.begin_nested():
            user = User(
                email=email,
                organization_id=organization.id,
                role="discharge_planner",
                token_hash=hash_token(generate_token()),
                active=False,
            )
            db.session.add(user)
    except IntegrityError:
        user = db.session.scalar(select(User).where(User.email == email))
    return user
