"""Follow-up use cases, one function each, called alike by the API, the pages and the coming FHIR/HL7 entry points."""
from transitions import policy
from transitions.followups import service


def record_contact(actor, followup_id, data, now):
    """Record outreach {note, reached} on a check the actor may see (else an audited 404): (followup, contact)."""
    followup, referral = service.get_followup(actor, followup_id, "followup.contact")
    policy.CONTACT_FOLLOWUP.require(actor, followup)
    contact = service.add_contact(actor, followup, referral, data, now)
    return followup, contact
