"""The ADT inbox table: every discharge feed message (HL7 v2, or a FHIR discharge notification) as it arrived, stored
before it is answered, with what became of it."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.types import ID, UTCDateTime, new_id

# received: stored, not yet applied (a crash between storing and applying leaves it so; a repeat or reprocess
# applies it); processed: applied; ignored: an event the service does not act on; rejected: refused (AR);
# error: readable but not applicable (AE).
ADT_STATES = ("received", "processed", "ignored", "rejected", "error")
CHANNELS = ("mllp", "http", "reprocess", "fhir")


class AdtMessage(db.Model):
    __tablename__ = "adt_messages"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # A monotonic key for the admins' list and for reprocess --since, in arrival order.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(10))
    # The bytes as they arrived (MLLP frame content or HTTP body), so a fix can re-run them exactly.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    # MSH-4 (sending facility), MSH-10 (control id), MSH-9 and MSH-12 as read (a FHIR notification's sender,
    # MessageHeader.id, "FHIR" and 4.0.1); None when the bytes could not be read.
    facility_id: Mapped[str | None] = mapped_column(String(100))
    control_id: Mapped[str | None] = mapped_column(String(200))
    message_type: Mapped[str | None] = mapped_column(String(10))
    trigger: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[str | None] = mapped_column(String(10))
    organization_id: Mapped[str | None] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    # The planner's organization a message came from over HTTP: it may speak for that organization's facilities only,
    # on reprocessing too. None for the MLLP listener and admins (any registered facility).
    sender_organization_id: Mapped[str | None] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(20), default="received", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    ack_code: Mapped[str | None] = mapped_column(String(2))
    # The field at fault: "PV1-45", as the ACK's ERR segment names it; for a FHIR message its FHIRPath
    # ("Encounter.period.end").
    error_field: Mapped[str | None] = mapped_column(String(200))
    # The HL7 table 0357 code of the ERR segment ("102" data type error...).
    error_code: Mapped[str | None] = mapped_column(String(3))
    referral_id: Mapped[str | None] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    # (MSH-4, MSH-10) as one unique value: a sender's retry (or the same message sent to two listeners) is one row,
    # acknowledged again and applied once. None for what claims no facility's key: bytes that are no HL7, and a
    # planner's message for a facility not their organization's (refused, and unable to block the real one's id).
    message_key: Mapped[str | None] = mapped_column(String(320), unique=True)


def message_key(facility_id, control_id):
    """The unique key of a facility's message: length-prefixed, so no facility id and control id pair collide."""
    return "%d:%s%s" % (len(facility_id), facility_id, control_id)
