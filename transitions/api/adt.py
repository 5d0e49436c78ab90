"""ADT feeds over HTTP: POST /adt takes one HL7 v2 message and answers its ACK; admins list the stored messages.

The POST is its own blueprint (`feed`): its body is HL7, not JSON, so the API's JSON checks of request bodies do
not apply to it; it reads the body itself, within the same size limit.
"""

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from transitions import policy
from transitions.adt import commands, queries, schemas
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, page_response
from transitions.core.clock import utcnow
from transitions.core.errors import DomainError
from transitions.core.fields import page_of

HL7_MIME = "application/hl7-v2"
ACK_STATUS = {"AA": 200, "AE": 422, "AR": 422}

blp = api_blueprint("adt", __name__, "The ADT inbox: HL7 v2 admission and discharge messages, as stored.")
feed = api_blueprint("adt_feed", __name__, "HL7 v2 ADT messages from hospitals (application/hl7-v2).")
AdtMessagePage = page_of(schemas.AdtMessageSchema, "AdtMessagePage")


class NotHl7Body(DomainError):
    status, type, title = 400, "malformed-request", "Bad Request"


class UnsupportedMediaType(DomainError):
    status, type, title = 415, "unsupported-media-type", "Unsupported Media Type"


def _ack_doc(description):
    return {"description": description, "content": {HL7_MIME: {"schema": {"type": "string"}}}}


@feed.route("/adt", methods=["POST"])
@feed.doc(
    responses={
        "200": _ack_doc("The ACK, MSA-1 AA: accepted (applied, or stored as ignored)."),
        "422": _ack_doc("The ACK, MSA-1 AE or AR, with an ERR segment naming the field; the message is stored."),
    }
)
@permits(policy.SEND_ADT)
def receive_adt():
    """Take one HL7 v2 message (body: the message, Content-Type: application/hl7-v2; a planner's or admin token).

    The message is stored before it is answered. The answer is its HL7 ACK (MSA-2 is the message's MSH-10): 200 for
    AA, 422 for AE or AR; a body that is no HL7 v2 message is a 400. A control id the facility sent before is
    answered again and changes nothing."""
    body = request.get_data(cache=True)  # a 413 past MAX_CONTENT_LENGTH, when the request says its length
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(body) >= limit:
        raise RequestEntityTooLarge()  # a chunked body werkzeug cut at the limit
    if request.mimetype != HL7_MIME:
        raise UnsupportedMediaType("Send one HL7 v2 message with Content-Type: application/hl7-v2.")
    answer = commands.receive_message(current_user(), body, utcnow())
    if answer.not_hl7:
        raise NotHl7Body("The body is not an HL7 v2 message: it must begin with an MSH segment.")
    return current_app.response_class(answer.ack, status=ACK_STATUS[answer.ack_code], mimetype=HL7_MIME)


@blp.query_route("/adt/messages", schemas.AdtMessageQuerySchema, AdtMessagePage, policy=policy.READ_ADT)
def list_adt_messages(args):
    """Stored ADT messages, newest first, with their state and why (admin); the raw content is never shown."""
    return page_response(schemas.AdtMessageSchema(), *queries.list_messages(args))
