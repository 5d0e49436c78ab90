"""The ADT inbox's steps: store the raw message, claim it once, apply its event through the domains' own commands
as the facility's ADT feed, and remember the ACK that answers it (a repeat is answered the same, changing nothing)."""

from dataclasses import dataclass

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from transitions.adt import admissions, hl7v2
from transitions.adt.feed import Outcome, facility_organization, feed_actor, open_referral, reported_discharge_of, why
from transitions.adt.models import AdtMessage, message_key
from transitions.core.db import db, json_array_contains
from transitions.core.errors import DomainError
from transitions.discharges import commands as discharges
from transitions.identity.models import Organization
from transitions.referrals import commands as referrals
from transitions.referrals.schemas import REFERRAL_CHANGES
from transitions.referrals.states import EDITABLE

# States a reprocess runs again: what was never applied, or failed, or was refused (a facility registered since).
REPROCESSABLE = ("received", "error", "rejected", "ignored")
DISCHARGE = "A03"
ADMISSIONS = ("A01", "A04")


@dataclass
class Answer:
    """The ACK to send and what it answers: the stored message (None for nothing storable) and its code."""

    ack: str
    ack_code: str
    message: AdtMessage | None
    not_hl7: bool = False


def receive(raw, channel, now, sender_organization_id=None):
    """Store raw, apply it once, and answer its ACK. Commits twice: the stored message before anything is applied
    (so a crash after it loses nothing and a retry finds it), then the change together with the message's state."""
    try:
        _, message, header = hl7v2.parse(raw)
    except hl7v2.NotHl7 as error:
        row = _store(raw, channel, now, None, sender_organization_id)
        refusal = hl7v2.Refusal("AR", None, hl7v2.APPLICATION_ERROR, str(error))
        _finish(row, Outcome("rejected", "AR", str(error), None, refusal.error), now)
        db.session.commit()
        return Answer(hl7v2.ack(None, "AR", None, now, refusal), "AR", row, not_hl7=True)
    except hl7v2.Refusal as refusal:  # bytes we cannot even decode: answered without echoing a thing
        row = _store(raw, channel, now, None, sender_organization_id)
        _finish(row, _refused(refusal), now)
        db.session.commit()
        return Answer(hl7v2.ack(None, refusal.ack_code, None, now, refusal), refusal.ack_code, row)
    row = _store(raw, channel, now, header, sender_organization_id)
    db.session.commit()
    return _apply_stored(row.id, message, header, now, sender_organization_id)


def reprocess(message_id, now):
    """Run a stored message again (after a fix, or once its facility is registered); returns its state after. Only
    messages in REPROCESSABLE states run, under the row's lock, so a processed message is never applied twice."""
    row = db.session.get(AdtMessage, message_id)
    try:
        _, message, header = hl7v2.parse(row.raw)
    except (hl7v2.NotHl7, hl7v2.Refusal):
        return row.state
    return _apply_stored(row.id, message, header, now, row.sender_organization_id, REPROCESSABLE).message.state


def _store(raw, channel, now, header, sender_organization_id=None):
    """The message as it arrived, committed by the caller; a repeat of (facility, control id) is the stored row."""
    row = AdtMessage(raw=bytes(raw), size=len(raw), channel=channel, received_at=now, state="received", attempts=0)
    row.sender_organization_id = sender_organization_id
    if header is not None:
        row.facility_id = header.facility_id
        row.control_id = header.control_id
        row.message_type = header.message_type
        row.trigger = header.trigger
        row.version = header.version
    if row.facility_id is None or row.control_id is None or not _may_speak_for(sender_organization_id, header):
        return store_row(row, None)
    return store_row(row, message_key(header.facility_id, header.control_id))


def store_row(row, key):
    """Add a message's row, flushed; under its key (None: a message that may claim none) a repeat is the row stored
    first (another listener, the sender's retry), which is the message."""
    if key is None:
        db.session.add(row)
        db.session.flush()
        return row
    row.message_key = key
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return db.session.scalar(select(AdtMessage).where(AdtMessage.message_key == key))
    return row


def _may_speak_for(sender_organization_id, header):
    """A planner's message claims its facility's key only when the facility is their organization's."""
    if sender_organization_id is None:
        return True
    organization = facility_organization(header.facility_id, strict=False)
    return organization is not None and organization.id == sender_organization_id


def _claim(message_id):
    """The stored message, locked until this transaction ends (PostgreSQL: a second listener waits here, then sees it
    finished; SQLite's writer lock serializes the same way)."""
    return db.session.scalar(
        select(AdtMessage)
        .where(AdtMessage.id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _apply_stored(message_id, message, header, now, sender_organization_id=None, runnable=("received",)):
    """Apply the stored message if its state is runnable (a first arrival: received), else answer as before."""
    row = _claim(message_id)
    if row.state in runnable:
        row.attempts = (row.attempts or 0) + 1
        _finish(row, applied_in_savepoint(message, header, now, row.id, sender_organization_id), now)
    db.session.commit()
    return Answer(stored_ack(row, message, header, now), row.ack_code, row)


def applied_in_savepoint(message, header, now, message_id, sender_organization_id=None):
    """The message applied in a savepoint of its own: its Outcome, or, rolled back to the savepoint, the Outcome of
    the refusal (AR/AE) that stopped it. Anything else raised rolls back the savepoint and propagates."""
    try:
        with db.session.begin_nested():
            return _apply(message, header, now, sender_organization_id, message_id)
    except hl7v2.Refusal as refusal:
        return _refused(refusal)
    except DomainError as error:
        return Outcome("error", "AE", "Not applied: %s" % why(error), _field_of(error), hl7v2.APPLICATION_ERROR)


def stored_ack(row, message, header, now):
    """The ACK a finished message is answered with, the first time and every repeat alike."""
    refusal = None
    if row.ack_code != "AA":
        error = hl7v2.ERRORS.get(row.error_code, hl7v2.APPLICATION_ERROR)
        refusal = hl7v2.Refusal(row.ack_code, row.error_field, error, row.reason or "")
    return hl7v2.ack(message, row.ack_code, header.control_id, now, refusal)


def _field_of(error):
    if error.errors and "discharge_date" in error.errors:
        return "PV1-45"
    if error.errors and "date" in error.errors:
        return "PV1-44"
    return None


def _refused(refusal):
    state = "rejected" if refusal.ack_code == "AR" else "error"
    return Outcome(state, refusal.ack_code, refusal.reason, refusal.field, refusal.error)


def _finish(row, outcome, now, flush=True):
    row.state = outcome.state
    row.ack_code = outcome.ack_code
    row.reason = outcome.reason[:2000] if outcome.reason else None
    row.error_field = outcome.field
    row.error_code = outcome.error[0] if outcome.error else None
    row.referral_id = outcome.referral_id or row.referral_id
    row.processed_at = now
    if row.facility_id and row.organization_id is None:
        organization = facility_organization(row.facility_id, strict=False)
        row.organization_id = organization.id if organization is not None else None
    if flush:
        db.session.flush()


# ---------------------------------------------------------------- the events


def _apply(message, header, now, sender_organization_id=None, message_id=None):
    hl7v2.check_header(header)
    organization = facility_organization(header.facility_id)
    if sender_organization_id is not None and organization.id != sender_organization_id:
        raise hl7v2.Refusal(
            "AR", "MSH-4", hl7v2.UNKNOWN_KEY, "The sending facility %s is not your organization's." % header.facility_id
        )
    if header.message_type != "ADT":
        return Outcome("ignored", "AA", "%s messages are not acted on." % header.message_type)
    if header.trigger == DISCHARGE:
        return _discharge(message, organization, now, message_id)
    if header.trigger in ADMISSIONS:
        return admissions.apply_admission(message, organization, now, from_feed=sender_organization_id is None)
    return Outcome("ignored", "AA", "ADT^%s is acknowledged and not acted on." % header.trigger)


def _discharge(message, organization, now, message_id=None):
    patient = hl7v2.patient(message)
    discharged_on = hl7v2.hl7_date(hl7v2.field(message, "PV1", 45), "PV1-45", zone_name=organization.timezone)
    admitted_on = _admitted_on(message, organization)
    return apply_discharge(patient, organization, discharged_on, now, message_id, admitted_on=admitted_on)


def _admitted_on(message, organization):
    """PV1-44's day when it reads as one (a correction of the same stay is matched by it; an admission the service
    cannot read refuses nothing, as the discharge does not depend on it)."""
    value = hl7v2.field(message, "PV1", 44)
    try:
        return hl7v2.hl7_date(value, "PV1-44", zone_name=organization.timezone) if value else None
    except hl7v2.Refusal:
        return None


# Where a discharge's facts were read, to name the field at fault: an A03's, or a FHIR discharge notification's.
A03_FIELDS = {"date": "PV1-45", "payer": "IN1-3"}


def apply_discharge(patient, organization, discharged_on, now, message_id=None, fields=A03_FIELDS, admitted_on=None):
    """A discharge's facts applied, whichever message carried them (an A03, a FHIR discharge notification): the open
    referral's discharge date moved, else a plan member's discharge without referral recorded (or, for the same stay
    admitted_on, corrected), else ignored."""
    if organization.kind == "hospital" and patient.patient_class != "I":
        return Outcome(
            "ignored",
            "AA",
            "Patient class %r: only inpatient (I) hospital discharges are followed." % (patient.patient_class or ""),
        )
    # Until this transaction ends, a referral of the patient submitted now (either form of the given name) waits to
    # look for discharges to adopt.
    discharges.lock_patient(organization.id, patient.family_name, patient.birth_date)
    referral = open_referral(organization, patient)
    if referral is not None and admitted_on is not None and referral.discharge_date < admitted_on <= discharged_on:
        # A stay that began after the referral's discharge is another stay than the one the referral was made for
        # (a patient still in its IOP, admitted again weeks later): its discharge must not move that referral's date
        # and checks. It is followed as a discharge of its own.
        referral = None
    if referral is None:
        return _discharge_without_referral(
            patient, organization, discharged_on, now, message_id, fields["payer"], admitted_on
        )
    if referral.discharge_date == discharged_on:
        reported_discharge_of(referral.id)
        return Outcome(
            "processed", "AA", "The referral's discharge date already was %s." % discharged_on, None, None, referral.id
        )
    try:
        changes = REFERRAL_CHANGES.load({"discharge_date": discharged_on.isoformat()})
    except ValidationError as error:
        messages = error.messages.get("discharge_date", error.messages)
        raise hl7v2.Refusal(
            "AE", fields["date"], hl7v2.DATA_TYPE_ERROR, "%s: %s" % (fields["date"], " ".join(map(str, messages)))
        ) from None
    if referral.status in EDITABLE:
        referrals.update_referral(feed_actor(organization), referral.id, changes, now)
    else:
        # Placed or attending: nothing else of the referral may change, but the actual discharge date must still
        # move its follow-up checks (they are measured from the real discharge).
        referrals.record_actual_discharge(feed_actor(organization), referral.id, changes["discharge_date"], now)
    reported_discharge_of(referral.id)
    return Outcome(
        "processed", "AA", "The referral's discharge date became %s." % discharged_on, None, None, referral.id
    )


def _discharge_without_referral(
    patient, organization, discharged_on, now, message_id, payer_field="IN1-3", admitted_on=None
):
    """No open referral: a health plan's member (the insurer, payer_field, one of its payer_ids) is recorded as a
    discharge without referral, followed by its own followup_7 and followup_30 (or a recorded one of the same stay is
    corrected); anyone else is stored as ignored, saying why."""
    coverage = _followed_coverage(patient)
    if coverage is None:
        insurers = ", ".join(patient.payer_ids) or "none"
        return Outcome(
            "ignored",
            "AA",
            "No open referral for this patient's stay from this facility, and no health plan follows its coverage "
            "(%s: %s): nothing to follow." % (payer_field, insurers[:200]),
        )
    payer_id, member_id = coverage
    discharge, became = discharges.record_discharge(
        feed_actor(organization),
        organization,
        patient,
        discharged_on,
        payer_id,
        member_id,
        now,
        message_id,
        admitted_on,
    )
    if became == discharges.RECORDED:
        return Outcome("processed", "AA", "The discharge without referral %s was recorded before." % discharge.id)
    if became == discharges.OUTDATED:
        return Outcome(
            "processed",
            "AA",
            "An older message of the stay of discharge without referral %s: it keeps %s, which a newer message set."
            % (discharge.id, discharge.discharge_date),
        )
    if became == discharges.CORRECTED:
        return Outcome(
            "processed",
            "AA",
            "The discharge without referral %s (the same stay, admitted %s) was corrected to %s."
            % (discharge.id, admitted_on, discharged_on),
        )
    return Outcome("processed", "AA", "A discharge without referral was recorded (%s)." % discharge.id)


def _followed_coverage(patient):
    """(payer id, member id) of the first IN1 whose insurer (IN1-3) a health plan follows, else None. The member id
    is that IN1's policy number (IN1-36), else PID-3's first member-type identifier."""
    for payer_id, policy_number in patient.coverages:
        followed = db.session.scalar(
            select(Organization.id)
            .where(Organization.kind == "health_plan", json_array_contains(Organization.payer_ids, payer_id))
            .limit(1)
        )
        if followed is not None:
            member_id = policy_number or (patient.plan_member_ids[0] if patient.plan_member_ids else None)
            return payer_id[:100], member_id[:100] if member_id else None
    return None
