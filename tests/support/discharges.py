"""Discharges without referral written straight into the tables (for tests that need one as a path parameter); the
feed's own way is tests/api/test_discharges.py's."""

from datetime import date

from transitions.core.db import db
from transitions.discharges.models import Discharge, patient_key
from transitions.followups.plan import plan_discharge


def discharge_row(app, organization_id, discharge_date, payer_id="acme-health", given="Ada", family="Lovelace"):
    """A discharge without referral of an acme-health member from the organization, with its checks; its id."""
    birth = date(1985, 3, 9)
    with app.app_context():
        discharge = Discharge(
            organization_id=organization_id,
            patient_key=patient_key(given, family, birth),
            given_name=given,
            family_name=family,
            birth_date=birth,
            patient_class="I",
            payer_id=payer_id,
            member_id="M-1",
            discharge_date=discharge_date,
            timezone="UTC",
        )
        db.session.add(discharge)
        db.session.flush()
        plan_discharge(discharge)
        db.session.commit()
        return discharge.id
