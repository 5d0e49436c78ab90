"""Schemas of the ADT inbox: the admins' list query and what a stored message shows (never its raw content, which
holds the patient's identity: the minimum necessary)."""

from marshmallow import Schema, fields, validate

from transitions.adt.models import ADT_STATES
from transitions.core.fields import PageQuerySchema, Text, Timestamp


class AdtMessageQuerySchema(PageQuerySchema):
    state = fields.String(validate=validate.OneOf(ADT_STATES))
    facility_id = Text(100)
    trigger = Text(10)


class AdtMessageSchema(Schema):
    id = fields.String()
    received_at = Timestamp()
    channel = fields.String()
    size = fields.Integer(metadata={"description": "Bytes as received; the raw message is kept, not shown."})
    facility_id = fields.String(allow_none=True, metadata={"description": "MSH-4, the sending facility."})
    organization_id = fields.String(allow_none=True)
    control_id = fields.String(allow_none=True, metadata={"description": "MSH-10, the message control id."})
    message_type = fields.String(allow_none=True)
    trigger = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "received, processed, ignored, rejected or error."})
    reason = fields.String(allow_none=True)
    ack_code = fields.String(allow_none=True, metadata={"description": "MSA-1 of the ACK sent: AA, AE or AR."})
    error_field = fields.String(allow_none=True)
    referral_id = fields.String(allow_none=True)
    processed_at = Timestamp(allow_none=True)
    attempts = fields.Integer()
