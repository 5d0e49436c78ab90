"""Schemas of organizations and users: what the API takes and what it shows."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.fields import (
    PAYER_ID,
    Id,
    PatternCheck,
    StrictSchema,
    StringList,
    Text,
    Timestamp,
    check_payer,
    check_timezone,
    unique,
)
from transitions.identity.models import DEFAULT_ORGANIZATION_TIMEZONE, HL7_FACILITY_KINDS, ORG_KINDS, ROLES

# An HL7 v2 sending facility id (MSH-4's namespace id, or its universal id such as an OID): the payer id's shape.
check_facility = PatternCheck(PAYER_ID, "HL7 facility ids are 1-100 letters, digits, '.', '_', ':' or '-'.")

# ---------------------------------------------------------------- organizations and users


class OrganizationInSchema(StrictSchema):
    """An organization to create; ORGANIZATION_CHANGES is its PATCH form (every field optional, no defaults)."""

    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    payer_ids = StringList(check_payer, load_default=list)
    hl7_facility_ids = StringList(
        check_facility,
        load_default=list,
        metadata={"description": "The HL7 v2 sending facilities (MSH-4) of a hospital or residential organization."},
    )
    timezone = fields.String(
        validate=check_timezone,
        load_default=DEFAULT_ORGANIZATION_TIMEZONE,
        metadata={"description": "IANA time zone its users' pages show times in (default UTC)."},
    )

    @validates_schema
    def payers_only_for_plans(self, data, **kwargs):
        # On PATCH the kind is the stored one (it never changes): the service checks the payer ids against it.
        if "kind" in self.fields and data.get("payer_ids") and data.get("kind") != "health_plan":
            raise ValidationError("Only health plans follow payer ids.", "payer_ids")
        unique(data.get("payer_ids"), "payer_ids")

    @validates_schema
    def facilities_only_for_hospitals(self, data, **kwargs):
        # As for payer ids, on PATCH the service checks them against the stored kind.
        if "kind" in self.fields and data.get("hl7_facility_ids") and data.get("kind") not in HL7_FACILITY_KINDS:
            raise ValidationError("Only hospital and residential organizations send HL7 feeds.", "hl7_facility_ids")
        unique(data.get("hl7_facility_ids"), "hl7_facility_ids")


# PATCH /organizations/{id}: an organization's kind never changes, so kind is an unknown field there.
ORGANIZATION_CHANGES = OrganizationInSchema(partial=True, exclude=("kind",))


class OrganizationSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    payer_ids = fields.List(fields.String())
    hl7_facility_ids = fields.List(fields.String())
    timezone = fields.String()
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
