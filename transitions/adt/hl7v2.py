"""HL7 v2 for the ADT inbox: raw bytes to a parsed message (the hl7 library, honouring the message's own encoding
characters, escapes and repetitions), the facts an ADT event carries, and the ACK answering it."""

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime

import hl7

from transitions.core.clock import zone

# MSH-18 character sets we decode (HL7 table 0211); no MSH-18 means UTF-8, which ASCII senders also satisfy.
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
}
# HL7 table 0203 identifier types that name a member of a health plan (PID-3.5).
MEMBER_ID_TYPES = ("MB", "MI", "MA", "MC", "SN")
VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
# DTM: YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]; a date needs at least the day.
# No date the feed reads is earlier (a birth date included); an earlier one is a sender's error, and day arithmetic
# on year 1 overflows.
EARLIEST_YEAR = 1900
# A DTM's offsets that say the time is UTC, not the sender's wall clock.
UTC_OFFSETS = ("+0000", "-0000")
DTM = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?([+-]\d{4})?$")
# HL7 table 0357, the error codes an ERR segment names.
REQUIRED_FIELD_MISSING = ("101", "Required field missing")
DATA_TYPE_ERROR = ("102", "Data type error")
TABLE_VALUE_NOT_FOUND = ("103", "Table value not found")
UNSUPPORTED_VERSION = ("203", "Unsupported version id")
UNKNOWN_KEY = ("204", "Unknown key identifier")
SEGMENT_SEQUENCE_ERROR = ("100", "Segment sequence error")
APPLICATION_ERROR = ("207", "Application internal error")
ERRORS = {
    error[0]: error
    for error in (
        REQUIRED_FIELD_MISSING,
        DATA_TYPE_ERROR,
        TABLE_VALUE_NOT_FOUND,
        UNSUPPORTED_VERSION,
        UNKNOWN_KEY,
        SEGMENT_SEQUENCE_ERROR,
        APPLICATION_ERROR,
    )
}


class NotHl7(Exception):
    """Bytes that are no HL7 v2 message at all: no MSH segment to read or to answer."""


@dataclass
class Refusal(Exception):
    """A message the service cannot take: the ACK code (AE or AR), the field at fault ("PV1-45") and why."""

    ack_code: str
    field: str | None
    error: tuple
    reason: str

    def __str__(self):
        return self.reason


@dataclass
class Header:
    """What MSH says, read before anything else so that even a refused message is stored and answered."""

    facility_id: str | None
    control_id: str | None
    message_type: str | None
    trigger: str | None
    version: str | None


@dataclass
class Patient:
    given_name: str
    family_name: str
    birth_date: date
    patient_class: str
    member_ids: list
    payer_ids: list
    # (IN1-3 insurer, IN1-36 policy number or "") per IN1 segment, in order.
    coverages: list = dataclass_field(default_factory=list)
    # PID-3 identifiers of a member-id type (PID-3.5 MB, MI, MA, MC, SN), in order.
    plan_member_ids: list = dataclass_field(default_factory=list)
    # The given name a referral may carry instead of given_name: the first with the further given names (PID-5.2 with
    # PID-5.3, "Maria Elena"), or the first alone when given_name holds them all (a FHIR name's given list). "" if none.
    other_given_name: str = ""

    @property
    def given_names(self):
        """Each form of the given name a referral or a discharge may carry."""
        return {self.given_name, self.other_given_name} - {""}


def decode(raw):
    """The message as text with one segment separator (\\r), whatever line endings the sender used."""
    if not raw.lstrip().startswith(b"MSH"):
        raise NotHl7("The body is not an HL7 v2 message: it does not begin with an MSH segment.")
    if b"\x00" in raw:  # never HL7 text, and no database column may hold it
        raise Refusal("AR", None, APPLICATION_ERROR, "The message holds NUL characters.")
    charset = _charset(raw)
    try:
        text = raw.decode(CHARSETS[charset])
    except KeyError:
        raise Refusal("AR", "MSH-18", TABLE_VALUE_NOT_FOUND, "Unsupported character set %r." % charset) from None
    except UnicodeDecodeError:
        raise Refusal("AE", "MSH-18", DATA_TYPE_ERROR, "The message is not valid %s." % CHARSETS[charset]) from None
    # A raw line break inside a field is no HL7 (it would be escaped as \.br\): every kind ends a segment.
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r \t\x00")
    return "\r".join(segment for segment in text.split("\r") if segment.strip())


def _charset(raw):
    """MSH-18 read from the raw bytes (ASCII in every character set we take), before the message can be decoded."""
    first_segment = re.split(rb"\r\n|\r|\n", raw.lstrip(), maxsplit=1)[0]
    if len(first_segment) < 8:
        return ""
    separator = first_segment[3:4]
    fields = first_segment.split(separator)
    # MSH-1 is the separator itself, so MSH-n is fields[n - 1].
    value = fields[17] if len(fields) > 17 else b""
    return value.decode("ascii", "replace").split(chr(first_segment[4]) if len(first_segment) > 4 else "^")[0].strip()


def parse(raw):
    """(text, hl7.Message, Header) of raw bytes; NotHl7 or Refusal when they cannot be read."""
    text = decode(raw)
    if len(text) < 8 or text[3] in "\r" or not text.startswith("MSH"):
        raise NotHl7("The body is not an HL7 v2 message: its MSH segment is incomplete.")
    try:
        message = hl7.parse(text)
        message.segment("MSH")
        header = Header(
            facility_id=_facility(message),
            control_id=field(message, "MSH", 10)[:200] or None,
            message_type=field(message, "MSH", 9)[:10] or None,
            trigger=field(message, "MSH", 9, component=2)[:10] or None,
            version=field(message, "MSH", 12)[:10] or None,
        )
    except Exception as error:
        # Whatever the parser raises (it asserts on some malformed encoding characters, "MSH|^^\&|"), the bytes are
        # not a message we can read: stored and answered AR like any other, never a crash of the listener.
        raise NotHl7("The body is not an HL7 v2 message (%s)." % (str(error) or type(error).__name__)) from None
    return text, message, header


def _facility(message):
    """MSH-4: its namespace id, or its universal id (an OID, say) when the namespace is empty."""
    return (field(message, "MSH", 4) or field(message, "MSH", 4, component=2))[:100] or None


def field(message, segment, number, repetition=1, component=1, subcomponent=1):
    """One value, unescaped (the library reads the message's own escape character); "" when it is not there."""
    try:
        value = message.extract_field(segment, 1, number, repetition, component, subcomponent)
    except (KeyError, IndexError):
        return ""
    return str(value).strip()


def repetitions(segment, number):
    """How many repetitions the segment's field has (0 when it is absent)."""
    try:
        value = segment[number]
    except IndexError:
        return 0
    if not str(value):
        return 0
    # A repeated field is a Field of Repetitions; a single value is a Field of components or a plain string.
    if isinstance(value, hl7.Field) and len(value) and isinstance(value[0], hl7.Repetition):
        return len(value)
    return 1


def check_header(header):
    if header.control_id is None:
        raise Refusal("AR", "MSH-10", REQUIRED_FIELD_MISSING, "MSH-10 (message control id) is missing.")
    if header.message_type is None or header.trigger is None:
        raise Refusal("AR", "MSH-9", REQUIRED_FIELD_MISSING, "MSH-9 (message type and trigger event) is missing.")
    if header.version not in VERSIONS:
        raise Refusal("AR", "MSH-12", UNSUPPORTED_VERSION, "HL7 version %r is not 2.3 to 2.8." % header.version)
    if header.facility_id is None:
        raise Refusal("AR", "MSH-4", REQUIRED_FIELD_MISSING, "MSH-4 (sending facility) is missing.")


def hl7_date(value, where, required=True, zone_name=None):
    """A DTM (or DT) as the date it names, or a Refusal naming the field.

    The day is the sender's, as written, except for a time given in UTC (offset +0000 or -0000): that is an instant
    with no local day of its own (interface engines that normalize to UTC send it), so with zone_name (the facility
    organization's time zone) its day is the facility's. A Chicago discharge at 23:30 sent as 05:30+0000 the next
    day is still a discharge on the day it happened there."""
    if not value:
        if required:
            raise Refusal("AE", where, REQUIRED_FIELD_MISSING, "%s is missing." % where)
        return None
    match = DTM.match(value)
    try:
        if match is None:
            raise ValueError(value)
        written = datetime(int(match[1]), int(match[2]), int(match[3]))
        if written.year < EARLIEST_YEAR:
            raise ValueError(value)
        if zone_name is None or match[4] is None or match[8] not in UTC_OFFSETS:
            return written.date()
        hour, minute, second = int(match[4][:2]), int((match[5] or "00")[:2]), int((match[6] or "00")[:2])
        instant = written.replace(hour=hour, minute=minute, second=second, tzinfo=UTC)
        return instant.astimezone(zone(zone_name)).date()
    except (ValueError, OverflowError):  # OverflowError: a UTC time at the edge of year 9999, moved into a zone
        raise Refusal("AE", where, DATA_TYPE_ERROR, "%s is not an HL7 date (YYYYMMDD[HHMM[SS]])." % where) from None


def patient(message):
    """The patient an ADT event is about: PID-5 (the first legal name, else the first), PID-7, PV1-2, and the
    coverage ids (PID-3 member ids, IN1-3 insurers, IN1-36 policy numbers)."""
    pid, pv1 = (_required(message, name) for name in ("PID", "PV1"))
    names = [
        (
            segment_field(pid, 5, n, 1),
            segment_field(pid, 5, n, 2),
            segment_field(pid, 5, n, 7),
            segment_field(pid, 5, n, 3),
        )
        for n in range(1, repetitions(pid, 5) + 1)
    ]
    legal = [name for name in names if name[2] == "L"] or names
    family, given, further = (legal[0][0], legal[0][1], legal[0][3]) if legal else ("", "", "")
    if not family or not given:
        raise Refusal("AE", "PID-5", REQUIRED_FIELD_MISSING, "PID-5 (the patient's family and given name) is missing.")
    birth_date = hl7_date(segment_field(pid, 7), "PID-7")
    identifiers = [(segment_field(pid, 3, n), segment_field(pid, 3, n, 5)) for n in range(1, repetitions(pid, 3) + 1)]
    member_ids = [value for value, _ in identifiers]
    plan_member_ids = [value for value, kind in identifiers if kind.upper() in MEMBER_ID_TYPES and value]
    payer_ids, policy_numbers = [], []
    try:
        insurance = message.segments("IN1")
    except KeyError:
        insurance = []
    for segment in insurance:
        payer_ids.append(segment_field(segment, 3))
        policy_numbers.append(segment_field(segment, 36))
    return Patient(
        given_name=given[:100],
        family_name=family[:100],
        birth_date=birth_date,
        patient_class=segment_field(pv1, 2)[:10],
        member_ids=[value for value in member_ids + policy_numbers if value],
        payer_ids=[value for value in payer_ids if value],
        coverages=[(payer, number) for payer, number in zip(payer_ids, policy_numbers, strict=True) if payer],
        plan_member_ids=plan_member_ids,
        other_given_name=("%s %s" % (given, further))[:100] if given and further else "",
    )


def _required(message, name):
    """The message's first segment of this name, looked up once; AE when there is none."""
    try:
        return message.segment(name)
    except KeyError:
        raise Refusal("AE", name, SEGMENT_SEQUENCE_ERROR, "The message has no %s segment." % name) from None


def segment_field(segment, number, repetition=1, component=1, subcomponent=1):
    """One value of a segment already found, unescaped as field() does; "" when it is not there."""
    try:
        return str(segment.extract_field(1, number, repetition, component, subcomponent)).strip()
    except (KeyError, IndexError):
        return ""


# ---------------------------------------------------------------- acknowledgements

# The header an ACK to unreadable bytes answers: the standard encoding characters, nothing to echo.
BLANK_HEADER = "MSH|^~\\&|||||||ADT^^ADT|||2.5"


def ack(message, ack_code, control_id, now, refusal=None, text=None):
    """The ACK (original mode) answering message: MSA-1 the code, MSA-2 its MSH-10, an ERR naming the field at fault.
    message may be None (bytes that are no HL7): the ACK then uses the standard encoding characters and an empty
    MSA-2, as there is nothing to echo."""
    message_id = "ACK-%s" % now.strftime("%Y%m%d%H%M%S%f")
    try:
        answer = message.create_ack(ack_code, message_id=message_id)
    except (AttributeError, KeyError, IndexError, TypeError):  # no message, or an MSH too broken to echo
        answer = hl7.parse(BLANK_HEADER).create_ack(ack_code, message_id=message_id)
    answer.assign_field(now.strftime("%Y%m%d%H%M%S"), "MSH", 1, 7)
    msa = answer.segment("MSA")
    msa.assign_field(control_id or "", 2)
    if refusal is not None or text:
        msa.assign_field(answer.escape((text or refusal.reason)[:80]), 3)
    if refusal is not None:
        err = answer.create_segment([answer.create_field(["ERR"])])
        answer.append(err)
        location = _location(refusal.field)
        if location:
            err.assign_field(location[0], 2, 1, 1)
            err.assign_field(location[1], 2, 1, 2)
            if location[2]:
                err.assign_field(location[2], 2, 1, 3)
        err.assign_field(refusal.error[0], 3, 1, 1)
        err.assign_field(refusal.error[1], 3, 1, 2)
        err.assign_field("HL70357", 3, 1, 3)
        err.assign_field("E", 4)
        err.assign_field(answer.escape(refusal.reason[:250]), 8)
    return str(answer)


def _location(where):
    """ "PV1-45" as (segment, sequence, field position) for ERR-2; "PID" as just the segment."""
    if not where:
        return None
    segment, _, number = where.partition("-")
    return segment, "1", number
