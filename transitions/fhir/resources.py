"""A referral and its offers as FHIR resources, shaped for one viewer: the body referrals.present gives that viewer
(the minimum necessary for a provider, the Part 2 notice) is what every resource is built from."""

from datetime import UTC

from transitions.fhir import extensions
from transitions.fhir.intake import ICD10CM
from transitions.offers import queries as offer_queries

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PART2_LABELS = [
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
]
# Disclosed outside the referring organization: no redisclosure without the patient's consent (42 CFR 2.32).
NO_REDISCLOSURE = {"system": ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"}

# The referral's Task mirrors the referral (SPEC: FHIR R4 interface).
REFERRAL_TASK_STATUS = {
    "submitted": "requested",
    "offered": "requested",
    "placed": "accepted",
    "attending": "in-progress",
    "completed": "completed",
    "cancelled": "cancelled",
    "dropped_out": "failed",
    "readmitted": "failed",
    "no_match": "failed",
}
OFFER_TASK_STATUS = {
    "pending": "requested",
    "accepted": "accepted",
    "declined": "rejected",
    "withdrawn": "cancelled",
    "expired": "failed",
}
GENDERS = {"female": "female", "male": "male", "nonbinary": "other", "unknown": "unknown"}
CLASS_BY_ORIGIN = {"inpatient_psych": ("IMP", "inpatient encounter"), "residential": ("NONAC", "inpatient non-acute")}


def code_system(name):
    """This service's own code systems (referral and offer states, decline reasons, services)."""
    return "%s/CodeSystem/%s" % (extensions.base_url(), name)


def instant(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _meta(referral, body, updated):
    meta = {"lastUpdated": instant(updated)}
    if referral.is_substance_use:
        labels = list(PART2_LABELS)
        if body.get("part2_notice"):
            labels.append(NO_REDISCLOSURE)
        meta["security"] = labels
    return meta


def _notice(body):
    if not body.get("part2_notice"):
        return []
    return [{"url": extensions.url("part2-notice"), "valueString": body["part2_notice"]}]


def _base(kind, resource_id, referral, body, updated=None):
    resource = {"resourceType": kind, "id": resource_id, "meta": _meta(referral, body, updated or referral.updated_at)}
    notice = _notice(body)
    if notice:
        resource["extension"] = notice
    return resource


def ref(kind, resource_id):
    return {"reference": "%s/%s" % (kind, resource_id)}


def referral_task(referral, body):
    """The referral's Task (id = the referral's id): status from the referral's, businessStatus its own state."""
    task = _base("Task", referral.id, referral, body)
    task.update(
        {
            "basedOn": [ref("ServiceRequest", referral.id)],
            "status": REFERRAL_TASK_STATUS[referral.status],
            "businessStatus": _coded("referral-status", referral.status),
            "intent": "order",
            "code": {
                "coding": [
                    {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill", "display": "Fulfill"}
                ]
            },
            "focus": ref("ServiceRequest", referral.id),
            "for": ref("Patient", referral.id),
            "authoredOn": instant(referral.created_at),
            "lastModified": instant(referral.updated_at),
            "requester": ref("Organization", referral.organization_id),
        }
    )
    if referral.status == "cancelled" and referral.cancel_reason:
        task["statusReason"] = {"text": referral.cancel_reason}
    return task


def offer_task(offer, referral, body, program_organization_id, now):
    """An offer's child Task (id = the offer's id), partOf the referral's Task, owned by the IOP's Organization."""
    status = offer_queries.effective_status(offer, now)
    updated = offer.decided_at or (offer.expires_at if status == "expired" else offer.created_at)
    task = _base("Task", offer.id, referral, body, updated)
    task.update(
        {
            "basedOn": [ref("ServiceRequest", referral.id)],
            "partOf": [ref("Task", referral.id)],
            "status": OFFER_TASK_STATUS[status],
            "businessStatus": _coded("offer-status", status),
            "intent": "order",
            "code": {
                "coding": [
                    {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "approve", "display": "Approve"}
                ]
            },
            "focus": ref("ServiceRequest", referral.id),
            "for": ref("Patient", referral.id),
            "authoredOn": instant(offer.created_at),
            "lastModified": instant(updated),
            "requester": ref("Organization", referral.organization_id),
            "owner": ref("Organization", program_organization_id),
            "restriction": {"period": {"end": instant(offer.expires_at)}},
            "input": [{"type": {"text": "track"}, "valueReference": ref("HealthcareService", offer.track_id)}],
        }
    )
    if offer.intake_date:
        task["executionPeriod"] = {"start": offer.intake_date.isoformat()}
    if status == "declined" and offer.decline_reason:
        task["statusReason"] = _coded("decline-reason", offer.decline_reason)
        if offer.decline_note:
            task["statusReason"]["text"] = offer.decline_note
    return task


def _coded(system, code):
    return {"coding": [{"system": code_system(system), "code": code}], "text": code.replace("_", " ")}


def service_request(referral, body):
    resource = _base("ServiceRequest", referral.id, referral, body)
    details = [{"url": extensions.url("need"), "valueCode": body["need"]}]
    details.append({"url": extensions.url("modality"), "valueCode": body["modality"]})
    details.append({"url": extensions.url("mat"), "valueBoolean": bool(body["needs_mat"])})
    details.append({"url": extensions.url("timezone"), "valueCode": body["timezone"]})
    if body.get("max_travel_miles") is not None:
        details.append({"url": extensions.url("travel-limit"), "valueDecimal": body["max_travel_miles"]})
    for window in body.get("availability") or []:
        details.append(
            {
                "url": extensions.url("availability"),
                "extension": [
                    {"url": "day", "valueCode": window["day"]},
                    {"url": "start", "valueTime": window["start"] + ":00"},
                    {"url": "end", "valueTime": window["end"] + ":00"},
                ],
            }
        )
    resource["extension"] = resource.get("extension", []) + details
    resource.update(
        {
            "status": "active" if referral.status not in ("completed", "cancelled", "dropped_out") else "completed",
            "intent": "order",
            "category": [{"text": "intensive outpatient program step-down referral"}],
            "code": {"text": "Intensive outpatient program (%s)" % body["need"].replace("_", " ")},
            "subject": ref("Patient", referral.id),
            "encounter": ref("Encounter", referral.id),
            "authoredOn": instant(referral.created_at),
            "requester": ref("Organization", referral.organization_id),
            "reasonCode": [{"coding": [{"system": ICD10CM, "code": code}]} for code in body["diagnoses"]],
        }
    )
    if referral.status == "cancelled":
        resource["status"] = "revoked"
    if not body["coverage"].get("self_pay"):
        resource["insurance"] = [ref("Coverage", referral.id)]
    if body.get("notes"):
        resource["note"] = [{"text": body["notes"]}]
    return resource


def patient(referral, body):
    person = body["patient"]
    resource = _base("Patient", referral.id, referral, body)
    resource.update(
        {
            "name": [{"family": person["family_name"], "given": person["given_name"].split()}],
            "gender": GENDERS[person["gender"]],
            "birthDate": person["birth_date"],
            "address": [{"postalCode": person["zip"], "country": "US"}],
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": person["language"]}]}}],
        }
    )
    if person.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": person["phone"]}]
    return resource


def encounter(referral, body):
    code, display = CLASS_BY_ORIGIN[body["origin"]]
    resource = _base("Encounter", referral.id, referral, body)
    resource.update(
        {
            "status": "finished",
            "class": {"system": ACT_CODE, "code": code, "display": display},
            "subject": ref("Patient", referral.id),
            "period": {"end": body["discharge_date"]},
        }
    )
    return resource


def coverage(referral, body):
    """The Coverage (id = the referral's id); None for a self-pay referral. A provider sees no member id."""
    if body["coverage"].get("self_pay"):
        return None
    resource = _base("Coverage", referral.id, referral, body)
    resource.update(
        {
            "status": "active",
            "beneficiary": ref("Patient", referral.id),
            "payor": [{"identifier": {"value": body["coverage"]["payer_id"]}}],
        }
    )
    if body["coverage"].get("member_id"):
        resource["subscriberId"] = body["coverage"]["member_id"]
    return resource


def consent(referral, body, now):
    """The Part 2 consent (id = the referral's id); None when the referral has none or the viewer sees none."""
    given = body.get("part2_consent")
    if not given:
        return None
    resource = _base("Consent", referral.id, referral, body)
    state = "inactive" if given.get("revoked_at") else ("active" if given.get("current") else "inactive")
    provision = {"type": "permit", "period": {"start": given["signed_on"]}}
    if given.get("expires_on"):
        provision["period"]["end"] = given["expires_on"]
    resource.update(
        {
            "status": state,
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                        "display": "Privacy Consent",
                    }
                ]
            },
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Consent Document"}]}
            ],
            "patient": ref("Patient", referral.id),
            "dateTime": given["signed_on"],
            "policy": [{"uri": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"}],
            "provision": provision,
        }
    )
    return resource
