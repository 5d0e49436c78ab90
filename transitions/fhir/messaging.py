"""FHIR messaging: the answer to a discharge notification posted to $process-message (docs/fhir.md, "Discharge
notifications"), rendered from the stored message so that a repeat is answered the same."""

import uuid

from transitions.adt import fhir_notification
from transitions.fhir import extensions, resources
from transitions.fhir.outcome import outcome_response, resource_response

OPERATION = "$process-message"
OPERATION_DEFINITION = "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"
EVENT = {
    "system": fhir_notification.EVENT_SYSTEM,
    "code": fhir_notification.DISCHARGE_EVENT,
    "display": "Discharge Notification",
}


def endpoint():
    return "%s/%s" % (extensions.base_url(), OPERATION)


def response(answer):
    """A response message Bundle (MessageHeader.response code ok, its details an OperationOutcome saying what was
    done) for an accepted message; an OperationOutcome with the stored status (400, 422) for a refused one."""
    row = answer.message
    if answer.status != 200:
        return outcome_response(answer.status, [(row.error_field, row.reason or "The message was refused.")])
    return resource_response(response_bundle(row))


def response_bundle(row):
    header_url, details_url = (_urn(row, part) for part in ("header", "details"))
    header = {
        "resourceType": "MessageHeader",
        "id": "%s-response" % row.id,
        "eventCoding": EVENT,
        "source": {
            "name": "Step-down transition coordination service",
            "software": "transitions",
            "endpoint": endpoint(),
        },
        "response": {"identifier": row.control_id, "code": "ok", "details": {"reference": details_url}},
    }
    details = {
        "resourceType": "OperationOutcome",
        "id": "%s-details" % row.id,
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "%s: %s" % (row.state, row.reason or "accepted."),
            }
        ],
    }
    return {
        "resourceType": "Bundle",
        "id": row.id,
        "type": "message",
        "timestamp": resources.instant(row.processed_at or row.received_at),
        "entry": [{"fullUrl": header_url, "resource": header}, {"fullUrl": details_url, "resource": details}],
    }


def _urn(row, part):
    """A stable urn:uuid per stored message and part: a repeat's answer is the first one's, byte for byte."""
    return "urn:uuid:%s" % uuid.uuid5(uuid.NAMESPACE_URL, "transitions:adt_messages/%s/%s" % (row.id, part))
