"""factory_boy factories for rows a test needs but does not test: organizations, users, referrals, offers, placements.

They write rows straight into `db.session` (flushed, not committed; the caller commits) with no business rule in
between: an offer or placement made here does not move its track's seat counters. Tests whose subject is the API
build through the API instead (`tests.support.offers.Scene`, `tests.support.followups.submit`).
"""

from datetime import UTC, date, datetime

import factory
from factory.alchemy import SQLAlchemyModelFactory

from transitions.core.db import db
from transitions.identity.models import Organization, User
from transitions.identity.tokens import generate_token, hash_token
from transitions.offers.models import Attendance, Offer, Placement, Readmission
from transitions.referrals.models import Referral
from transitions.referrals.service import patient_key


def current_session():
    # Looked up at each create: the test fixtures swap `db.session` for one bound to the test's transaction.
    return db.session


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "flush"


class OrganizationFactory(BaseFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: "Organization %d" % n)
    kind = "hospital"
    payer_ids = factory.LazyFunction(list)


class UserFactory(BaseFactory):
    """A user whose bearer token nobody knows; pass token_hash=hash_token(token) to sign in with `token`."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: "user%d@example.org" % n)
    organization_id = factory.LazyFunction(lambda: OrganizationFactory().id)
    role = "discharge_planner"
    token_hash = factory.LazyFunction(lambda: hash_token(generate_token()))


class ReferralFactory(BaseFactory):
    """A submitted mental-health referral from Chicago (60614) covered by acme-health, without a follow-up plan."""

    class Meta:
        model = Referral

    organization_id = factory.LazyFunction(lambda: OrganizationFactory().id)
    created_by = factory.LazyAttribute(lambda o: UserFactory(organization_id=o.organization_id).id)
    status = "submitted"
    given_name = factory.Sequence(lambda n: "Patient%d" % n)
    family_name = "X"
    birth_date = date(1990, 1, 1)
    patient_key = factory.LazyAttribute(lambda o: patient_key(o.given_name, o.family_name, o.birth_date))
    gender = "unknown"
    language = "en"
    zip = "60614"
    patient_state = "IL"
    latitude = 41.92
    longitude = -87.65
    payer_id = "acme-health"
    member_id = "M"
    self_pay = False
    origin = "inpatient_psych"
    need = "mental_health"
    diagnoses = factory.LazyFunction(lambda: ["F33.1"])
    needs_mat = False
    discharge_date = date(2026, 12, 3)
    timezone = "America/Chicago"
    modality = "either"
    share_notes = False
    auto_cascade = False


class OfferFactory(BaseFactory):
    """An offer row (accepted by default) for a referral, program and track the test already has."""

    class Meta:
        model = Offer

    status = "accepted"
    expires_at = datetime(2027, 1, 1, tzinfo=UTC)
    intake_date = None
    decided_at = None
    decline_reason = None
    created_at = factory.LazyAttribute(lambda o: o.decided_at or datetime(2026, 11, 30, 12, tzinfo=UTC))


class PlacementFactory(BaseFactory):
    """The active placement of an accepted offer, on that offer's referral, program and track."""

    class Meta:
        model = Placement

    referral_id = factory.LazyAttribute(lambda o: o.offer.referral_id)
    offer_id = factory.LazyAttribute(lambda o: o.offer.id)
    track_id = factory.LazyAttribute(lambda o: o.offer.track_id)
    program_id = factory.LazyAttribute(lambda o: o.offer.program_id)
    intake_date = factory.LazyAttribute(lambda o: o.offer.intake_date)
    status = "active"
    created_at = factory.LazyAttribute(lambda o: o.offer.decided_at or o.offer.created_at)

    class Params:
        offer = None  # required: the accepted Offer row


class AttendanceFactory(BaseFactory):
    class Meta:
        model = Attendance

    status = "attended"


class ReadmissionFactory(BaseFactory):
    class Meta:
        model = Readmission

    classification = "readmission_30"
