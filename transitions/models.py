"""Every table, importable from one place: Alembic and the schema tests read the metadata through here."""

from transitions.adt.models import AdtMessage
from transitions.core.models import AuditRecord, IdempotencyRecord
from transitions.directory.models import Program, Track
from transitions.discharges.models import Discharge, DischargeReadmission, DischargeVisit
from transitions.followups.models import FollowUp, FollowUpContact
from transitions.identity.models import Organization, User, WebSession
from transitions.notify.models import (
    DeliveryAttempt,
    Event,
    MailDelivery,
    NotificationPreference,
    Webhook,
    WebhookDelivery,
)
from transitions.offers.models import Attendance, Offer, Placement, Readmission
from transitions.referrals.models import Referral

__all__ = [
    "AdtMessage",
    "AuditRecord",
    "IdempotencyRecord",
    "Program",
    "Track",
    "Discharge",
    "DischargeReadmission",
    "DischargeVisit",
    "FollowUp",
    "FollowUpContact",
    "Organization",
    "User",
    "WebSession",
    "DeliveryAttempt",
    "Event",
    "MailDelivery",
    "NotificationPreference",
    "Webhook",
    "WebhookDelivery",
    "Attendance",
    "Offer",
    "Placement",
    "Readmission",
    "Referral",
]
