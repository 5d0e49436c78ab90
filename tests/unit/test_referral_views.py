"""The provider's view of a referral: an allowlist of the full view's fields, in a fixed order (minimum necessary)."""

from datetime import UTC, date, datetime
from types import SimpleNamespace

from transitions.referrals.schemas import ReferralForProviderSchema, ReferralSchema

PROVIDER_KEYS = [
    "id",
    "status",
    "patient",
    "coverage",
    "origin",
    "need",
    "diagnoses",
    "needs_mat",
    "discharge_date",
    "availability",
    "timezone",
    "modality",
    "notes",
    "part2_notice",
]


def a_referral():
    patient = SimpleNamespace(
        given_name="Maria",
        family_name="Lopez",
        birth_date=date(1990, 4, 12),
        gender="female",
        language="es",
        zip="60614",
        phone=None,
    )
    return SimpleNamespace(
        id="r1",
        organization_id="o1",
        status="submitted",
        patient=patient,
        coverage=SimpleNamespace(payer_id="acme-health", member_id="ACM123456", self_pay=False),
        origin="inpatient_psych",
        need="mental_health",
        diagnoses=["F33.1"],
        needs_mat=False,
        discharge_date=date(2026, 12, 3),
        availability=[SimpleNamespace(day="mon", start="09:00", end="12:00")],
        timezone="America/Chicago",
        modality="either",
        max_travel_miles=None,
        part2_consent=None,
        notes="unshared note",
        shared_notes=None,
        share_notes=False,
        auto_cascade=True,
        cancel_reason=None,
        part2_notice=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        updated_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_providers_see_only_the_named_fields_in_their_order():
    referral = a_referral()
    seen = ReferralForProviderSchema().dump(referral)
    assert list(seen) == PROVIDER_KEYS
    assert list(seen["coverage"]) == ["payer_id", "self_pay"]
    assert seen["notes"] is None  # the shared notes, not the planner's own
    assert seen["patient"] == ReferralSchema().dump(referral)["patient"]


def test_the_full_view_keeps_what_providers_do_not_get():
    full = ReferralSchema().dump(a_referral())
    assert full["coverage"]["member_id"] == "ACM123456" and full["notes"] == "unshared note"
    withheld = set(full) - set(PROVIDER_KEYS)
    assert withheld == {
        "organization_id",
        "max_travel_miles",
        "part2_consent",
        "share_notes",
        "auto_cascade",
        "cancel_reason",
        "created_at",
        "updated_at",
    }
