"""Referral intake: create, update while not placed, and cancel, with the duplicate-patient rule."""

from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from transitions.core import codes
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, ValidationFailed
from transitions.core.types import new_id
from transitions.discharges.models import patient_key as same_patient_key
from transitions.followups import plan as followup_plan
from transitions.notify.events import record_event
from transitions.referrals.models import OPEN_REFERRAL_STATUSES, Referral
from transitions.referrals.schemas import REQUEST_FIELDS
from transitions.referrals.states import EDITABLE, ensure_transition, transition


def patient_key(given_name, family_name, birth_date):
    """Same person for the duplicate rule: names compared case- and space-insensitively (the one rule the ADT feed and
    a discharge's adoption match patients by)."""
    return same_patient_key(given_name, family_name, birth_date)


def _apply_fields(referral, data):
    """Copy validated API fields onto the flat referral row."""
    if "patient" in data:
        patient = data["patient"]
        for key in ("given_name", "family_name", "birth_date", "gender", "language", "zip"):
            setattr(referral, key, patient[key])
        referral.phone = patient.get("phone")
        referral.latitude, referral.longitude, referral.patient_state, _ = codes.zip_location(patient["zip"])
        referral.patient_key = patient_key(referral.given_name, referral.family_name, referral.birth_date)
    if "coverage" in data:
        coverage = data["coverage"]
        referral.self_pay = bool(coverage.get("self_pay"))
        referral.payer_id = coverage.get("payer_id")
        referral.member_id = coverage.get("member_id")
    if "part2_consent" in data:
        consent = data["part2_consent"]
        referral.consent_signed_on = consent["signed_on"] if consent else None
        referral.consent_expires_on = consent.get("expires_on") if consent else None
        referral.consent_revoked_at = None
    for key in (*REQUEST_FIELDS, "max_travel_miles", "notes", "share_notes", "auto_cascade"):
        if key in data:
            setattr(referral, key, data[key])


def _check_coherent(referral):
    errors = {}
    if referral.needs_mat and referral.need == "mental_health":
        errors["needs_mat"] = ["Medication for addiction treatment needs a substance_use or co_occurring need."]
    if referral.modality == "telehealth" and referral.max_travel_miles is not None:
        errors["max_travel_miles"] = ["Travel distance applies to in-person care only."]
    if errors:
        raise ValidationFailed(errors)


def open_referral_for(organization_id, key, excluding_id=None):
    query = select(Referral).where(
        Referral.organization_id == organization_id,
        Referral.patient_key == key,
        Referral.status.in_(OPEN_REFERRAL_STATUSES),
    )
    if excluding_id:
        query = query.where(Referral.id != excluding_id)
    # Autoflush would write the very row being checked and trip the unique index first.
    with db.session.no_autoflush:
        return db.session.scalar(query)


def _duplicate_conflict(existing):
    return Conflict(
        "This patient already has an open referral (%s, status %s) from your organization."
        % (existing.id, existing.status),
        extra={"existing_referral_id": existing.id, "existing_status": existing.status},
    )


def _flush_guarding_duplicates(referral):
    """The partial unique index decides races; a loser gets the 409 naming the winner."""
    organization_id, key, referral_id = referral.organization_id, referral.patient_key, referral.id
    existing = open_referral_for(organization_id, key, excluding_id=referral_id)
    if existing is not None:
        raise _duplicate_conflict(existing)
    try:
        db.session.flush()
    except IntegrityError:
        # The whole request fails anyway, so roll back all of it and read the winner afresh.
        db.session.rollback()
        existing = open_referral_for(organization_id, key, excluding_id=referral_id)
        if existing is None:
            raise
        raise _duplicate_conflict(existing) from None


def _insert_guarding_duplicates(referral):
    """A new (transient) referral inserted with no read before: the partial unique index decides whether the patient
    already has an open referral, and the loser reads the winner for its 409. Inside a savepoint (the demo's history)
    the whole session must not be rolled back to read it, so the read comes first there."""
    if db.session().in_nested_transaction() or not _insertable(referral):
        db.session.add(referral)
        _flush_guarding_duplicates(referral)
        return
    organization_id, key = referral.organization_id, referral.patient_key
    try:
        _insert(referral)
    except IntegrityError:
        # The whole request fails anyway, so roll back all of it and read the winner afresh.
        db.session.rollback()
        existing = open_referral_for(organization_id, key)
        if existing is None:
            raise
        raise _duplicate_conflict(existing) from None


_COLUMNS = tuple(attribute.key for attribute in Referral.__mapper__.column_attrs)
# Columns whose type writes None as a value (JSON's null) rather than SQL NULL, as the unit of work tells them apart.
_WRITES_NONE = frozenset(column.key for column in Referral.__table__.columns if column.type.should_evaluate_none)
_DEFAULTED = frozenset(column.key for column in Referral.__table__.columns if column.default is not None)
_INSERT = insert(Referral.__table__)


def _insertable(referral):
    """Every column with a default is given (create_referral sets them), so the row holds what the object does."""
    given = inspect(referral).dict
    return all(given.get(key) is not None for key in _DEFAULTED)


def _insert(referral):
    """The referral's row by one Core INSERT with the values a flush would send, the object then persistent as a flush
    leaves it (every column loaded): the unit of work's bookkeeping for this one object cost more than the insert."""
    given = inspect(referral).dict
    values = {key: given[key] for key in _COLUMNS if key in given and (given[key] is not None or key in _WRITES_NONE)}
    db.session.execute(_INSERT, values)
    for key in _COLUMNS:
        if key not in given:
            set_committed_value(referral, key, None)
    make_transient_to_detached(referral)
    db.session.add(referral)


def create_referral(user, data, now=None):
    """A new referral from the user's organization (the caller has checked the user may submit)."""
    now = now or utcnow()
    referral = Referral(
        id=new_id(),
        organization_id=user.organization_id,
        created_by=user.id,
        created_at=now,
        updated_at=now,
        status="submitted",
        share_notes=False,
        auto_cascade=False,
    )
    _apply_fields(referral, data)
    _check_coherent(referral)
    _insert_guarding_duplicates(referral)
    # The referral's row is written either way (its INSERT, or the flush inside a savepoint), so its event is a row now.
    record_event(
        "referral.submitted",
        referral=referral,
        subject=referral,
        actor=user,
        to_status="submitted",
        data={"referral_id": referral.id, "need": referral.need},
        rows_written=True,
    )
    # The referral row is written: its plan goes in as one statement by write_plans, with no ORM object per check.
    followup_plan.write_plans([referral])
    return referral


def update_referral(user, referral, changes, now=None):
    """Apply validated changes until the referral is placed (the caller has checked the user may change it)."""
    if referral.status not in EDITABLE:
        raise Conflict(
            "A referral in status '%s' can no longer be changed." % referral.status,
            extra={"current_status": referral.status},
        )
    _apply_fields(referral, changes)
    _check_coherent(referral)
    referral.updated_at = now or utcnow()
    if inspect(referral).attrs.patient_key.history.has_changes():
        _flush_guarding_duplicates(referral)
    # Else the row keeps the open referral's slot it holds: no other can collide, and the next flush writes it.
    record_event(
        "referral.updated",
        referral=referral,
        subject=referral,
        actor=user,
        data={"fields": sorted(changes)},
        rows_written=True,
    )
    followup_plan.replan_referral(referral)
    return referral


def set_discharge_date(user, referral, discharge_date, now=None):
    """The actual discharge date of an open referral (placed or attending too, unlike update_referral), its plan moved;
    the caller validated the date as PATCH does."""
    if referral.status not in OPEN_REFERRAL_STATUSES:
        raise Conflict(
            "A referral in status '%s' no longer takes a discharge date." % referral.status,
            extra={"current_status": referral.status},
        )
    referral.discharge_date = discharge_date
    referral.updated_at = now or utcnow()
    db.session.flush()
    record_event(
        "referral.updated",
        referral=referral,
        subject=referral,
        actor=user,
        data={"fields": ["discharge_date"]},
        rows_written=True,
    )
    followup_plan.replan_referral(referral)
    return referral


def cancel_referral(user, referral, reason=None, now=None):
    """Cancel a referral; its pending offers are withdrawn and their seats freed, under the referral's lock."""
    from transitions.offers import ledger
    from transitions.offers import service as offers

    # The same lock order as every offer change (referral, then offers, then tracks by id): no deadlocks.
    referral = ledger.lock_referral(referral.id)
    ensure_transition(referral, "cancelled")
    changes, _ = offers.close_referral_offers(
        referral, now or utcnow(), user, live_status="withdrawn", reason="referral_cancelled"
    )
    ledger.apply_seat_changes(changes)
    referral.cancel_reason = reason
    transition(referral, "cancelled", user, data={"reason": reason} if reason else None)
    followup_plan.close_pending(referral)
    db.session.flush()
    return referral
