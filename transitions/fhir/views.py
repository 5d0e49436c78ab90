"""The /fhir/r4 routes: parse FHIR, call the command or query the JSON API calls, render FHIR."""

from datetime import UTC, datetime

from flask import request
from marshmallow import ValidationError
from sqlalchemy import false, func, select

from transitions import policy
from transitions.adt import commands as adt_commands
from transitions.api import refuse_malformed_requests
from transitions.api.auth import current_user
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import DomainError, Forbidden
from transitions.core.idempotency import idempotent
from transitions.core.nul import looks_like_id
from transitions.directory.models import Program, Track
from transitions.fhir import blp, capability, directory, extensions, intake, messaging, patching, resources, search
from transitions.fhir.outcome import FHIR_JSON, FhirInvalid, resource_response
from transitions.identity.models import Organization
from transitions.offers import commands as offer_commands
from transitions.offers.models import Offer
from transitions.offers.queries import visible_offers
from transitions.offers.schemas import AcceptInSchema, DeclineInSchema
from transitions.referrals import commands as referral_commands
from transitions.referrals import present
from transitions.referrals.models import Referral

# FHIR Task status -> the referral states and offer states it stands for (the inverse of resources' maps).
REFERRAL_STATES = {}
for _state, _status in resources.REFERRAL_TASK_STATUS.items():
    REFERRAL_STATES.setdefault(_status, []).append(_state)
OFFER_STATE = {status: state for state, status in resources.OFFER_TASK_STATUS.items()}
LAST_UPDATED = {"gt": "__gt__", "ge": "__ge__", "lt": "__lt__", "le": "__le__"}


@blp.get("/metadata")
def metadata():
    """The CapabilityStatement (no token needed)."""
    return resource_response(capability.capability_statement())


@blp.get("/StructureDefinition/<extension_id>")
def structure_definition(extension_id):
    definition = extensions.structure_definition(extension_id)
    if definition is None:
        raise FhirInvalid([(None, "No StructureDefinition with this id.")], 404)
    return resource_response(definition)


# ---------------------------------------------------------------- intake


@blp.post("")
def transaction():
    """A transaction Bundle of a referral: submitted exactly as POST /api/v1/referrals submits one."""
    user = current_user()
    if not policy.SUBMIT_REFERRAL.allows(user):
        raise Forbidden(policy.SUBMIT_REFERRAL.denial)
    response = idempotent(_submit)()
    response.mimetype = FHIR_JSON  # a replay comes back with the stored body as application/json
    return response


def _submit():
    user = current_user()
    bundle = request.get_json(force=True, silent=True)
    data = intake.referral_from_bundle(bundle)
    referral = referral_commands.submit_referral(user, data, utcnow())
    stamp = resources.instant(referral.created_at)
    answer = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "%s/%s" % (kind, referral.id), "lastModified": stamp}}
            for kind in (entry["resource"]["resourceType"] for entry in bundle["entry"])
        ],
    }
    return resource_response(answer, 200, {"Location": "%s/Task/%s" % (extensions.base_url(), referral.id)})


# ---------------------------------------------------------------- messaging


@blp.post("/$process-message")
def process_message():
    """A discharge notification (a message Bundle, docs/fhir.md): stored in the ADT inbox, applied as an A03 is,
    answered with a response message Bundle, or an OperationOutcome when refused. Turned away unstored: a role that
    may not send (403), a body of the wrong media type (415) or too large (413), an empty body (400); a body that is
    no JSON is kept, as rejected, before its 400."""
    user = current_user()
    if not policy.SEND_ADT.allows(user):
        raise Forbidden(policy.SEND_ADT.denial)
    try:
        refuse_malformed_requests()
    except DomainError as error:
        if error.status == 400 and request.get_data(cache=True):
            adt_commands.refuse_fhir_notification(user, request.get_data(cache=True), error.detail, utcnow())
        raise
    return messaging.response(adt_commands.receive_fhir_notification(user, request.get_data(cache=True), utcnow()))


# ---------------------------------------------------------------- the referral's resources


# What a referral is read as, each from the viewer's body of it (the minimum necessary for a provider); all share
# the referral's id. Coverage and Consent may be absent (self-pay, no consent, or not the viewer's to see).
REFERRAL_RESOURCES = {
    "ServiceRequest": resources.service_request,
    "Patient": resources.patient,
    "Encounter": resources.encounter,
    "Coverage": resources.coverage,
    "Consent": lambda referral, body: resources.consent(referral, body, utcnow()),
}


@blp.get("/<any(%s):resource_type>/<referral_id>" % ", ".join(REFERRAL_RESOURCES))
def read_referral_resource(resource_type, referral_id):
    """ServiceRequest, Patient, Encounter, Coverage or Consent of a referral the caller may see (else 404)."""
    user = current_user()
    referral = policy.get_referral(user, referral_id)
    resource = REFERRAL_RESOURCES[resource_type](referral, present.referral(user, referral))
    if resource is None:
        raise FhirInvalid([(None, "No %s with this id." % resource_type)], 404)
    return resource_response(resource)


# ---------------------------------------------------------------- Tasks


def _sees_offers(user):
    return policy.READ_OFFERS.allows(user)


def _is_offer(task_id):
    """An offer's child Task (rather than a referral's Task): a lookup of the id's kind only, saying nothing."""
    return looks_like_id(task_id) and db.session.get(Offer, task_id) is not None


def offer_task(user, offer, now):
    referral = db.session.get(Referral, offer.referral_id)
    owner = db.session.scalar(select(Program.organization_id).where(Program.id == offer.program_id))
    audit.record("referral.read", "referral", referral.id, user=user)
    return resources.offer_task(offer, referral, present.referral(user, referral), owner, now)


@blp.get("/Task/<task_id>")
def read_task(task_id):
    user, now = current_user(), utcnow()
    if _is_offer(task_id) and _sees_offers(user):
        return resource_response(offer_task(user, policy.get_offer(user, task_id), now))
    referral = policy.get_referral(user, task_id)
    return resource_response(resources.referral_task(referral, present.referral(user, referral)))


@blp.get("/Task")
def search_tasks():
    """Referral Tasks first, then offers' child Tasks, each oldest first."""
    user, now = current_user(), utcnow()
    found = search.params(("focus", "status", "owner", "part-of", "_lastUpdated"))
    count, offset = search.paging(found)
    referral_rows, offer_rows, total = _task_page(user, found, now, count, offset)
    tasks = []
    for referral in referral_rows:
        audit.record("referral.list", "referral", referral.id, user=user)
        tasks.append(resources.referral_task(referral, present.referral(user, referral)))
    for offer in offer_rows:
        audit.record("offer.list", "offer", offer.id, user=user)
        tasks.append(offer_task(user, offer, now))
    return resource_response(search.bundle(tasks, total, count, offset))


def _task_page(user, found, now, count, offset):
    referrals = policy.visible_referrals(user)
    offer_filters = {}
    offers = select(Offer).where(policy.offer_visibility(user) if _sees_offers(user) else false())
    if "focus" in found:
        referral_id = search.reference_id(found["focus"], "ServiceRequest", "focus")
        referrals = referrals.where(Referral.id == referral_id)
        offer_filters["referral_id"] = referral_id
    if "part-of" in found:
        referrals = referrals.where(false())
        offer_filters["referral_id"] = search.reference_id(found["part-of"], "Task", "part-of")
    if "owner" in found:
        referrals = referrals.where(false())
        owner = search.reference_id(found["owner"], "Organization", "owner")
        offers = offers.where(Offer.program_id.in_(select(Program.id).where(Program.organization_id == owner)))
    if "status" in found:
        status = found["status"].rpartition("|")[2]
        referrals = referrals.where(Referral.status.in_(REFERRAL_STATES.get(status, [])))
        if status not in OFFER_STATE:
            offers = offers.where(false())
        else:
            offer_filters["status"] = OFFER_STATE[status]
    if offer_filters:
        offers = offers.where(Offer.id.in_(select(visible_offers(user, offer_filters, now).subquery().c.id)))
    if "_lastUpdated" in found:
        comparison, moment = _last_updated(found["_lastUpdated"])
        referrals = referrals.where(getattr(Referral.updated_at, comparison)(moment))
        offers = offers.where(getattr(func.coalesce(Offer.decided_at, Offer.created_at), comparison)(moment))
    referral_rows, referral_total = search.page_of(referrals, (Referral.created_at, Referral.id), count, offset)
    offer_offset = max(0, offset - referral_total)
    offer_count = count - len(referral_rows)
    offer_rows, offer_total = search.page_of(offers, (Offer.created_at, Offer.id), offer_count, offer_offset)
    return referral_rows, offer_rows if offer_count else [], referral_total + offer_total


def _last_updated(value):
    prefix, moment = value[:2], value[2:]
    if prefix not in LAST_UPDATED:
        raise FhirInvalid([("_lastUpdated", "_lastUpdated takes a prefix: gt, ge, lt or le (gt2026-12-01).")], 400)
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        raise FhirInvalid([("_lastUpdated", "_lastUpdated takes a date or an instant.")], 400) from None
    return LAST_UPDATED[prefix], parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@blp.patch("/Task/<task_id>")
def patch_task(task_id):
    """A JSON Patch of an offer's child Task: to accepted or rejected, nothing else."""
    user, now = current_user(), utcnow()
    offer = policy.get_offer(user, task_id, "offer.read")
    current = offer_task(user, offer, now)
    return _decide(user, offer, current, patching.apply(current, request.get_json(force=True, silent=True)), now)


@blp.put("/Task/<task_id>")
def put_task(task_id):
    """The child Task sent back whole, changed only in status, statusReason and executionPeriod."""
    user, now = current_user(), utcnow()
    offer = policy.get_offer(user, task_id, "offer.read")
    current = offer_task(user, offer, now)
    wanted = request.get_json(force=True, silent=True)
    if not isinstance(wanted, dict) or wanted.get("resourceType") != "Task" or wanted.get("id") != task_id:
        raise FhirInvalid([("Task.id", "PUT the Task with its own resourceType and id.")])
    return _decide(user, offer, current, wanted, now)


def _decide(user, offer, current, wanted, now):
    patching.check_only_decision_changed(current, wanted)
    status = wanted.get("status")
    if status == current["status"] and wanted.get("statusReason") == current.get("statusReason"):
        return resource_response(current)  # nothing to do: the same decision sent again
    if status == "accepted":
        start = _part(wanted, "executionPeriod").get("start")
        start = start[:10] if isinstance(start, str) else start
        intake_date = _load(AcceptInSchema(), {"intake_date": start or None}, "Task.executionPeriod.start")
        offer_commands.accept_offer(user, offer.id, intake_date["intake_date"], now)
    elif status == "rejected":
        reason = _part(wanted, "statusReason")
        codings = reason.get("coding") if isinstance(reason.get("coding"), list) else []
        codes = [c.get("code") for c in codings if isinstance(c, dict) and c.get("code")]
        note = reason.get("text")
        if codes and isinstance(codes[0], str) and note == codes[0].replace("_", " "):
            note = None  # the text this service writes for a bare reason is no note
        decline = _load(DeclineInSchema(), {"reason": codes[0] if codes else None, "note": note}, "Task.statusReason")
        offer_commands.decline_offer(user, offer.id, decline["reason"], decline["note"], now)
    else:
        raise FhirInvalid(
            [("Task.status", "A coordinator moves its offer's Task to accepted or rejected, nothing else.")]
        )
    db.session.refresh(offer)
    return resource_response(offer_task(user, offer, now))


def _part(document, name):
    """An element of the wanted Task that should be an object; anything else reads as an empty one."""
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _load(schema, body, element):
    try:
        return schema.load({key: value for key, value in body.items() if value is not None})
    except ValidationError as error:
        messages = [m for field in error.messages.values() for m in (field if isinstance(field, list) else [field])]
        raise FhirInvalid([(element, str(message)) for message in messages]) from None


# ---------------------------------------------------------------- the directory


@blp.get("/Organization/<organization_id>")
def read_organization(organization_id):
    return resource_response(directory.organization(directory.get_organization(current_user(), organization_id)))


@blp.get("/Organization")
def search_organizations():
    user = current_user()
    found = search.params(("name", "type"))
    count, offset = search.paging(found)
    rows, total = search.page_of(
        directory.organizations_query(user, found), (Organization.created_at, Organization.id), count, offset
    )
    return resource_response(search.bundle([directory.organization(r) for r in rows], total, count, offset))


@blp.get("/Location/<program_id>")
def read_location(program_id):
    current_user()
    return resource_response(directory.location(_program(program_id)))


def _program(program_id):
    program = db.session.get(Program, program_id) if looks_like_id(program_id) else None
    if program is None:
        raise FhirInvalid([(None, "No Location with this id.")], 404)
    return program


@blp.get("/Location")
def search_locations():
    current_user()
    found = search.params(("near", "address-postalcode", "address-state", "organization"))
    count, offset = search.paging(found)
    if "organization" in found:
        found["organization"] = search.reference_id(found["organization"], "Organization", "organization")
    if "near" in found:
        rows = directory.locations_within(*directory.near(found["near"]), found)
        total, rows = len(rows), rows[offset : offset + count]
    else:
        rows, total = search.page_of(directory.locations_query(found), (Program.created_at, Program.id), count, offset)
    return resource_response(search.bundle([directory.location(p) for p in rows], total, count, offset))


@blp.get("/HealthcareService/<track_id>")
def read_healthcare_service(track_id):
    current_user()
    track = db.session.get(Track, track_id) if looks_like_id(track_id) else None
    if track is None:
        raise FhirInvalid([(None, "No HealthcareService with this id.")], 404)
    return resource_response(directory.services([track], utcnow())[0])


@blp.get("/HealthcareService")
def search_healthcare_services():
    current_user()
    found = search.params(("location", "organization", "active", "service-type"))
    count, offset = search.paging(found)
    if "location" in found:
        found["location"] = search.reference_id(found["location"], "Location", "location")
    if "organization" in found:
        found["organization"] = search.reference_id(found["organization"], "Organization", "organization")
    rows, total = search.page_of(directory.services_query(found), (Track.created_at, Track.id), count, offset)
    return resource_response(search.bundle(directory.services(rows, utcnow()), total, count, offset))
