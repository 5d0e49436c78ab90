"""Discharges without referral as their readers see them, shaped for DischargeSchema."""

from transitions.core.clock import local_today


def discharge(row, detail, now):
    """One discharge with its checks, visits and readmissions (the details of queries.details_of)."""
    return {
        "id": row.id,
        "organization_id": row.organization_id,
        "status": row.status,
        "patient": {"given_name": row.given_name, "family_name": row.family_name, "birth_date": row.birth_date},
        "coverage": {"payer_id": row.payer_id, "member_id": row.member_id},
        "patient_class": row.patient_class,
        "discharge_date": row.discharge_date,
        "admitted_on": row.admitted_on,
        "days_since_discharge": (local_today(row.timezone, now) - row.discharge_date).days,
        "adopted_by_referral_id": row.adopted_by_referral_id,
        "adopted_at": row.adopted_at,
        "created_at": row.created_at,
        "followups": [check(c) for c in detail["checks"]],
        "visits": [visit(v) for v in detail["visits"]],
        "readmissions": [
            {
                "id": r.id,
                "date": r.admitted_on,
                "days_after_discharge": (r.admitted_on - row.discharge_date).days,
                "classification": r.classification,
                "created_at": r.created_at,
            }
            for r in detail["readmissions"]
        ],
    }


def check(row):
    return {
        "id": row.id,
        "referral_id": None,
        "discharge_id": row.discharge_id,
        "check": row.check,
        "due_date": row.due_date,
        "due_at": row.due_at,
        "outcome": row.outcome,
        "evaluated_at": row.evaluated_at,
        "evidence": row.evidence,
    }


def visit(row):
    return {
        "id": row.id,
        "discharge_id": row.discharge_id,
        "date": row.visit_date,
        "recorded_by": row.recorded_by,
        "created_at": row.created_at,
    }
