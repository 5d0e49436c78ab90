"""Follow-up checks and step-down board rows as one viewer may see them, shaped for their declared schemas."""

from transitions import policy
from transitions.discharges.models import Discharge
from transitions.followups import queries


def followups(user, rows, referrals):
    """Each check with its outreach and the Part 2 notice; providers learn that outreach happened, not the notes.

    `referrals` maps each row's referral id to its Referral (a discharge without referral's check has none).
    """
    contacts = queries.contacts_for([row.id for row in rows])
    items = []
    for row in rows:
        referral = referrals.get(row.referral_id) if row.referral_id else None
        with_notes = referral is None or policy.referral_disclosure(user, referral) != "provider"
        items.append(
            {
                "id": row.id,
                "referral_id": row.referral_id,
                "discharge_id": row.discharge_id,
                "check": row.check,
                "due_date": row.due_date,
                "due_at": row.due_at,
                "outcome": row.outcome,
                "evaluated_at": row.evaluated_at,
                "evidence": row.evidence,
                "contacts": [contact(c, with_notes) for c in contacts[row.id]],
                "part2_notice": policy.part2_notice_for(user, referral) if referral is not None else None,
            }
        )
    return items


def contact(row, with_note=True):
    """One outreach note (FollowUpContactSchema); without the note itself for viewers who may not read it."""
    return {
        "id": row.id,
        "followup_id": row.followup_id,
        "note": row.note if with_note else None,
        "reached": row.reached,
        "recorded_by": row.recorded_by,
        "created_at": row.created_at,
    }


def stepdown(user, subject, detail):
    """One row of the step-down board (StepdownSchema), from dashboards.stepdowns' details of the subject: a referral,
    or a discharge without referral (referral_id null, status no_step_down)."""
    if isinstance(subject, Discharge):
        return discharge_stepdown(subject, detail)
    referral = subject
    placement = detail["placement"]
    return {
        "referral_id": referral.id,
        "discharge_id": None,
        "organization_id": referral.organization_id,
        "status": referral.status,
        "need": referral.need,
        "payer_id": referral.payer_id,
        "discharge_date": referral.discharge_date,
        "days_since_discharge": detail["days_since_discharge"],
        "next_check": detail["next_check"],
        "overdue": bool(detail["overdue_checks"]),
        "overdue_checks": detail["overdue_checks"],
        "missed": bool(detail["missed_checks"]),
        "missed_checks": detail["missed_checks"],
        "placement_id": placement.id if placement else None,
        "program_id": placement.program_id if placement else None,
        "intake_date": placement.intake_date if placement else None,
        "last_attended_on": detail["last_attended_on"],
        "last_contact_at": detail["last_contact_at"],
        "part2_notice": policy.part2_notice_for(user, referral),
    }


def discharge_stepdown(discharge, detail):
    """A discharge without referral on the board: nobody arranged a step-down, so no placement and no program."""
    return {
        "referral_id": None,
        "discharge_id": discharge.id,
        "organization_id": discharge.organization_id,
        "status": "no_step_down",
        "need": None,
        "payer_id": discharge.payer_id,
        "discharge_date": discharge.discharge_date,
        "days_since_discharge": detail["days_since_discharge"],
        "next_check": detail["next_check"],
        "overdue": bool(detail["overdue_checks"]),
        "overdue_checks": detail["overdue_checks"],
        "missed": bool(detail["missed_checks"]),
        "missed_checks": detail["missed_checks"],
        "placement_id": None,
        "program_id": None,
        "intake_date": None,
        "last_attended_on": detail["last_attended_on"],
        "last_contact_at": detail["last_contact_at"],
        "part2_notice": None,
    }
