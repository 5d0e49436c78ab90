"""Compiled dumps (transitions.core.dumping) write what marshmallow's Schema.dump writes, key order and types included,
and leave the schemas they cannot reproduce to marshmallow."""

from datetime import UTC, date, datetime

import pytest
from marshmallow import Schema, fields, post_dump

from transitions.core.dumping import compile_dump
from transitions.referrals.models import Referral
from transitions.referrals.schemas import ReferralForProviderSchema, ReferralSchema

BASE = {
    "id": "r1",
    "organization_id": "o1",
    "status": "submitted",
    "given_name": "Maria",
    "family_name": "Lopez",
    "birth_date": date(1980, 1, 2),
    "gender": "female",
    "language": "es",
    "zip": "60601",
    "phone": None,
    "payer_id": "IL-MEDICAID",
    "member_id": "M1",
    "self_pay": False,
    "origin": "inpatient_psych",
    "need": "mental_health",
    "diagnoses": ["F32.9", "F41.1"],
    "needs_mat": False,
    "discharge_date": date(2026, 12, 3),
    "availability": None,
    "timezone": "America/Chicago",
    "modality": "either",
    "max_travel_miles": None,
    "consent_signed_on": None,
    "consent_expires_on": None,
    "consent_revoked_at": None,
    "notes": None,
    "share_notes": False,
    "auto_cascade": False,
    "cancel_reason": None,
    "created_at": datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC),
    "updated_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
}
VARIANTS = [
    {},
    {
        "availability": [
            {"day": "mon", "start": "09:00", "end": "12:00"},
            {"day": "tue", "start": "18:00", "end": "21:00"},
        ]
    },
    {"availability": []},
    {"max_travel_miles": 25.5, "phone": "312-555-0100", "notes": "Prefers evenings", "share_notes": True},
    {"max_travel_miles": 10, "notes": "Not shared", "share_notes": False},
    {"consent_signed_on": date(2026, 11, 1), "consent_expires_on": date(2027, 11, 1), "need": "substance_use"},
    {"consent_signed_on": date(2026, 11, 1), "consent_revoked_at": datetime(2026, 11, 5, tzinfo=UTC)},
    {"self_pay": True, "payer_id": None, "member_id": None, "cancel_reason": "moved", "status": "cancelled"},
    {"diagnoses": [], "needs_mat": True, "auto_cascade": True, "need": "co_occurring"},
]


@pytest.mark.parametrize("schema_class", [ReferralSchema, ReferralForProviderSchema])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_compiled_referral_dump_is_marshmallows(schema_class, variant):
    referral = Referral(**{**BASE, **variant})
    expected = schema_class().dump(referral)
    compiled = compile_dump(schema_class())(referral)
    assert compiled == expected
    assert list(compiled) == list(expected)
    assert [type(value) for value in compiled.values()] == [type(value) for value in expected.values()]


def test_missing_values_dump_defaults_and_data_keys_as_marshmallow_does():
    class Inner(Schema):
        a = fields.String()

    class Outer(Schema):
        name = fields.String(data_key="fullName")
        absent = fields.String()
        defaulted = fields.Integer(dump_default=7)
        flag = fields.Boolean()
        inner = fields.Nested(Inner, allow_none=True)
        inners = fields.List(fields.Nested(Inner))
        many = fields.Nested(Inner, many=True)

    for obj in (
        {"name": 5, "flag": 1, "inner": {"a": "x"}, "inners": [{"a": "y"}, {}], "many": [{"a": "z"}]},
        {"name": None, "flag": None, "inner": None, "inners": None, "many": None},
    ):
        assert compile_dump(Outer())(obj) == Outer().dump(obj)


def test_a_schema_with_dump_hooks_keeps_marshmallows_dump():
    class Hooked(Schema):
        a = fields.String()

        @post_dump
        def shout(self, data, **kwargs):
            return {key: value.upper() for key, value in data.items()}

    schema = Hooked()
    assert compile_dump(schema) == schema.dump
    assert compile_dump(schema)({"a": "x"}) == {"a": "X"}
