"""Schemas of organizations and users: what the API takes and what it shows."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.fields import Id, StrictSchema, StringList, Text, Timestamp, check_payer, unique
from transitions.identity.models import ORG_KINDS, ROLES

# ---------------------------------------------------------------- organizations and users


class OrganizationInSchema(StrictSchema):
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    payer_ids = StringList(check_payer, load_default=list)

    @validates_schema
    def payers_only_for_plans(self, data, **kwargs):
        if data.get("payer_ids") and data.get("kind") != "health_plan":
            raise ValidationError("Only health plans follow payer ids.", "payer_ids")
        unique(data.get("payer_ids"), "payer_ids")


class OrganizationPatchSchema(StrictSchema):
    name = Text(200)
    payer_ids = StringList(check_payer)


class OrganizationSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    payer_ids = fields.List(fields.String())
    created_at = Timestamp()


class UserInSchema(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    organization_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UserSchema(Schema):
    id = fields.String()
    email = fields.String()
    organization_id = fields.String()
    role = fields.String()
    active = fields.Boolean()
    created_at = Timestamp()


class UserWithTokenSchema(UserSchema):
    token = fields.String(metadata={"description": "Shown once; only its hash is stored."})
