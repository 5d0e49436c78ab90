"""The ADT inbox's use cases: take one HL7 v2 message (over HTTP for a planner or an admin, or from the MLLP
listener) or one FHIR discharge notification ($process-message), and re-run stored messages after a fix."""

from sqlalchemy import select

from transitions import policy
from transitions.adt import batch, fhir_notification, service
from transitions.adt.models import AdtMessage
from transitions.core import audit
from transitions.core.db import db


def receive_message(actor, raw, now):
    """One message over HTTP: stored, applied once, answered (service.Answer). A planner speaks for their own
    organization's facilities only; an admin for any registered facility."""
    policy.SEND_ADT.require(actor)
    sender = None if actor.role == "admin" else actor.organization_id
    answer = service.receive(raw, "http", now, sender)
    if answer.message is not None:
        audit.record("adt.receive", "adt_message", answer.message.id, user=actor)
    return answer


def receive_fhir_notification(actor, raw, now):
    """One FHIR discharge notification ($process-message): stored, applied once, answered
    (fhir_notification.Answer). The same senders as over HTTP: a planner for their own organization, an admin for
    any registered facility."""
    policy.SEND_ADT.require(actor)
    answer = fhir_notification.receive(raw, now, _sender(actor))
    audit.record("adt.receive", "adt_message", answer.message.id, user=actor)
    return answer


def refuse_fhir_notification(actor, raw, reason, now):
    """A body the FHIR interface could not read as JSON: kept in the inbox as rejected all the same."""
    policy.SEND_ADT.require(actor)
    answer = fhir_notification.receive_unreadable(raw, reason, now, _sender(actor))
    audit.record("adt.receive", "adt_message", answer.message.id, user=actor)
    return answer


def _sender(actor):
    return None if actor.role == "admin" else actor.organization_id


def receive_from_listener(raw, now):
    """One HL7 message as the MLLP listener takes it, alone (the demo's feed; the listener itself stores and applies
    in batches): the network sender is trusted as far as its facility id is registered."""
    return service.receive(raw, "mllp", now)


def store_from_listener(frames):
    """The messages the MLLP listener took together ([(raw, arrival time)]), stored in one commit: [batch.Item], those
    that could not be read already answered (batch.py)."""
    return batch.store_batch(frames)


def apply_from_listener(items):
    """Stored messages (store_from_listener's items, of one batch or several) applied in one transaction (each in its
    own savepoint when one of them raised); sets each item's ACK text (None: not applied, no answer)."""
    batch.apply_batch(items)


def reprocess(since, now):
    """Re-run every stored message received at or after since (all when None) that is not yet processed, in
    arrival order; returns {state: count} of what they became."""
    query = select(AdtMessage.id, AdtMessage.channel).where(AdtMessage.state.in_(service.REPROCESSABLE))
    if since is not None:
        query = query.where(AdtMessage.received_at >= since)
    counts = {}
    for message_id, channel in db.session.execute(query.order_by(AdtMessage.received_at, AdtMessage.id)).all():
        if channel == fhir_notification.CHANNEL:
            state = fhir_notification.reprocess(message_id, now)
        else:
            state = service.reprocess(message_id, now)
        counts[state] = counts.get(state, 0) + 1
    return counts
