"""Follow-up checks and step-down board rows as one viewer may see them, shaped for their declared schemas."""

from transitions import policy
from transitions.followups import queries


def followups(user, rows, referrals):
    """Each check with its outreach and the Part 2 notice; providers learn that outreach happened, not the notes.

    `referrals` maps each row's referral id to its Referral.
    """
    contacts = queries.contacts_for([row.id for row in rows])
    items = []
    for row in rows:
        referral = referrals[row.referral_id]
        with_notes = policy.referral_disclosure(user, referral) != "provider"
        items.append(
            {
                "id": row.id,
                "referral_id": row.referral_id,
                "check": row.check,
                "due_date": row.due_date,
                "due_at": row.due_at,
                "outcome": row.outcome,
                "evaluated_at": row.evaluated_at,
                "evidence": row.evidence,
                "contacts": [contact(c, with_notes) for c in contacts[row.id]],
                "part2_notice": policy.part2_notice_for(user, referral),
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


def stepdown(user, referral, detail):
    """One row of the step-down board (StepdownSchema), from dashboards.stepdowns' details of the referral."""
    placement = detail["placement"]
    return {
        "referral_id": referral.id,
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
