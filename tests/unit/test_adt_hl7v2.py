"""HL7 v2 reading and ACKs for the ADT inbox: the message's own encoding characters, escapes, repetitions, line
endings, character sets and versions; refusals naming the field; ACKs echoing MSH-10 with an ERR segment."""

from datetime import UTC, date, datetime

import hl7
import pytest

from tests.support.hl7msgs import adt
from transitions.adt import hl7v2

NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def read(raw):
    _, message, header = hl7v2.parse(raw)
    return message, header


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_every_line_ending_reads_the_same(separator):
    message, header = read(adt(separator=separator))
    assert header.facility_id == "GENHOSP" and header.control_id == "MSG0001" and header.trigger == "A03"
    patient = hl7v2.patient(message)
    assert (patient.family_name, patient.given_name, patient.birth_date) == ("Lopez", "Maria", date(1990, 4, 12))
    assert hl7v2.field(message, "PV1", 45) == "202612021415"


def test_mixed_line_endings_in_one_message():
    raw = adt().replace(b"\r", b"\n", 1).replace(b"\rPV1", b"\r\nPV1")
    message, _ = read(raw)
    assert hl7v2.patient(message).patient_class == "I"


def test_the_messages_own_encoding_characters_and_escapes():
    # Field separator '#', components '$', repetition '*', escape '!', subcomponents '%': nothing is split on '|'.
    raw = (
        "MSH#$*!%#EPIC#GENHOSP#T#P#20261202##ADT$A03#C1#P#2.4\r"
        "PID#1##MRN1$$$H$MR*ACM9$$$A$MB##O!T!Brien$Ana Sof\u00eda##19700101\r"
        "PV1#1#I" + "#" * 43 + "20261202\r"
    ).encode()
    message, header = read(raw)
    assert header.version == "2.4" and header.trigger == "A03"
    patient = hl7v2.patient(message)
    # !T! is this message's subcomponent separator, unescaped to its own character.
    assert patient.family_name == "O%Brien" and patient.given_name == "Ana Sof\u00eda"
    assert patient.member_ids == ["MRN1", "ACM9"]
    assert hl7v2.hl7_date(hl7v2.field(message, "PV1", 45), "PV1-45") == date(2026, 12, 2)


def test_the_legal_name_among_repeated_names():
    raw = adt().replace(b"Lopez^Maria^^^^^L", b"Mari^Lo^^^^^A~Lopez^Maria^^^^^L")
    patient = hl7v2.patient(read(raw)[0])
    assert (patient.family_name, patient.given_name) == ("Lopez", "Maria")


def test_latin1_when_msh18_says_so():
    text = adt(family="Mu\u00f1oz").decode().replace("|P|2.5.1", "|P|2.5.1||||||8859/1")
    patient = hl7v2.patient(read(text.encode("latin-1"))[0])
    assert patient.family_name == "Mu\u00f1oz"


def test_bytes_that_are_not_utf8_without_a_charset_are_refused_on_msh18():
    with pytest.raises(hl7v2.Refusal) as refused:
        read(adt(family="Mu\u00f1oz").decode().encode("latin-1"))
    assert refused.value.field == "MSH-18" and refused.value.ack_code == "AE"


@pytest.mark.parametrize("raw", [b"", b"hello", b'{"json": true}', b"MSH", b"\x00\x01\x02", b"PID|1||x"])
def test_what_is_not_hl7(raw):
    with pytest.raises(hl7v2.NotHl7):
        hl7v2.parse(raw)


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"])
def test_versions_23_to_28_pass_the_header_check(version):
    hl7v2.check_header(read(adt(version=version))[1])


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (adt(version="2.2"), "MSH-12"),
        (adt(version="3.0"), "MSH-12"),
        (adt(control_id=""), "MSH-10"),
        (adt(facility=""), "MSH-4"),
    ],
)
def test_header_refusals_name_the_field(raw, where):
    with pytest.raises(hl7v2.Refusal) as refused:
        hl7v2.check_header(read(raw)[1])
    assert refused.value.field == where and refused.value.ack_code == "AR"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (adt(pid=False), "PID"),
        (adt(pv1=False), "PV1"),
        (adt(birth="1990-04-12"), "PID-7"),
        (adt(birth="19901312"), "PID-7"),
        (adt(birth=""), "PID-7"),
        (adt(family=""), "PID-5"),
    ],
)
def test_patient_refusals_name_the_field(raw, where):
    with pytest.raises(hl7v2.Refusal) as refused:
        hl7v2.patient(read(raw)[0])
    assert refused.value.field == where and refused.value.ack_code == "AE"


@pytest.mark.parametrize("value", ["2026-12-02", "20261302", "2026120", "yesterday", "20261202T1415"])
def test_a_date_in_a_wrong_format(value):
    with pytest.raises(hl7v2.Refusal) as refused:
        hl7v2.hl7_date(value, "PV1-45")
    assert refused.value.field == "PV1-45" and refused.value.error == hl7v2.DATA_TYPE_ERROR


@pytest.mark.parametrize("value", ["20261202", "202612021415", "20261202141500", "20261202141500.1234-0600"])
def test_dates_at_every_precision(value):
    assert hl7v2.hl7_date(value, "PV1-45") == date(2026, 12, 2)


def test_an_accepting_ack_echoes_msh10():
    message, header = read(adt(control_id="XYZ-42"))
    ack = hl7.parse(hl7v2.ack(message, "AA", header.control_id, NOW))
    assert str(ack.segment("MSH")[9]) == "ACK^A03^ACK"
    assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "XYZ-42"
    with pytest.raises(KeyError):
        ack.segment("ERR")


def test_a_refusing_ack_names_the_field_in_err():
    message, header = read(adt())
    refusal = hl7v2.Refusal("AE", "PV1-45", hl7v2.DATA_TYPE_ERROR, "PV1-45 is not an HL7 date | sorry")
    ack = hl7.parse(hl7v2.ack(message, "AE", header.control_id, NOW, refusal))
    assert str(ack.segment("MSA")[1]) == "AE" and str(ack.segment("MSA")[2]) == "MSG0001"
    err = ack.segment("ERR")
    assert str(err[2]) == "PV1^1^45" and str(err[3][0][0]) == "102" and str(err[4]) == "E"
    assert ack.unescape(str(err[8])) == "PV1-45 is not an HL7 date | sorry"  # escaped, not a new field


def test_an_ack_to_bytes_that_are_not_hl7():
    refusal = hl7v2.Refusal("AR", None, hl7v2.APPLICATION_ERROR, "not HL7")
    ack = hl7.parse(hl7v2.ack(None, "AR", None, NOW, refusal))
    assert str(ack.segment("MSA")[1]) == "AR" and str(ack.segment("MSA")[2]) == ""


def test_an_ack_answers_in_the_messages_own_encoding_characters():
    raw = b"MSH#$*!%#EPIC#GENHOSP#T#P#20261202##ADT$A08#C9#P#2.4\rPID#1\r"
    message, header = read(raw)
    text = hl7v2.ack(message, "AA", header.control_id, NOW)
    assert text.startswith("MSH#$*!%#") and "\rMSA#AA#C9" in text


def test_nul_characters_are_refused_before_anything_is_read():
    with pytest.raises(hl7v2.Refusal) as refused:
        hl7v2.parse(adt(control_id="A\x00B"))
    assert refused.value.ack_code == "AR"
