"""Reading N-SUMHSS facility files: the code table (complete for the real files, equal to the docs), the mapping of
one line, and bad input reported with its line number."""

import csv
import gzip
import os
import re
from collections import Counter

import pytest

from transitions.directory import samhsa

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "directory.md")
FILES = {
    "substance-use": "samhsa-2022-substance-use-facilities.csv.gz",
    "mental-health": "samhsa-2022-mental-health-facilities.csv.gz",
}
HEADER = ",".join(samhsa.COLUMNS)
SU_CODES = "SA SUMH * OIT ORT * BU * MD MC PI SF * ADLT YAD SNR * FEM * SP F70 * AH * TELE"


def shared(name):
    path = os.path.normpath(os.path.join(DATA_DIR, name))
    if not os.path.isfile(path):
        pytest.skip("the SAMHSA reference file %s is not in ../shared/data" % name)
    return path


def line(name1="Lakeview Recovery", name2="", street="12 Main Street", zip_code="60601", state="IL", codes=SU_CODES):
    return ",".join([name1, name2, street, "", "Chicago", state, zip_code, "312-555-0100", "", "", "", "", codes])


def write(tmp_path, lines, name="facilities.csv", gzipped=False, header=HEADER):
    text = "\n".join([header, *lines]) + "\n"
    path = tmp_path / (name + (".gz" if gzipped else ""))
    if gzipped:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", sorted(FILES))
def test_every_code_the_real_files_use_is_mapped_or_ignored(kind):
    with gzip.open(shared(FILES[kind]), "rt", encoding="utf-8", newline="") as handle:
        seen = {code for row in csv.DictReader(handle) for code in row["service_code_info"].split() if code != "*"}
    assert seen - samhsa.KNOWN_CODES == set()


@pytest.mark.parametrize("kind", sorted(FILES))
def test_every_code_the_code_lists_define_is_mapped_or_ignored(kind):
    with gzip.open(shared("samhsa-2022-%s-service-codes.csv.gz" % kind), "rt", encoding="utf-8") as handle:
        defined = {row["service_code"].strip() for row in csv.DictReader(handle)}
    assert defined - samhsa.KNOWN_CODES == set()


def test_no_code_is_both_mapped_and_ignored():
    assert set(samhsa.CODE_TABLE) & samhsa.IGNORED_CODES == set()


def test_docs_show_the_code_table_and_the_ignored_codes():
    text = open(DOCS, encoding="utf-8").read()
    documented = {
        code: (field, value)
        for code, field, value in re.findall(r"^\| `(\w+)` \| `(\w+)` \| `([^`]*)` \|$", text, flags=re.M)
    }
    in_code = {code: (field, "true" if value is True else value) for code, (field, value) in samhsa.CODE_TABLE.items()}
    assert documented == in_code
    ignored_section = text.split("### Ignored codes", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`(\w+)`", ignored_section)) == samhsa.IGNORED_CODES


def test_a_line_maps_to_program_fields(tmp_path):
    (row,) = samhsa.read_file(write(tmp_path, [line()]))
    assert row.error is None and row.settings == ("OIT",)
    assert row.fields == {
        "name": "Lakeview Recovery",
        "street": "12 Main Street",
        "city": "Chicago",
        "zip": "60601",
        "state": "IL",
        "phone": "312-555-0100",
        "services": ["substance_use", "co_occurring"],
        "min_age": 18,
        "max_age": 120,
        "gender": "female",
        "languages": ["en", "es", "ru"],
        "payers": ["medicaid-il", "medicare", "private-insurance"],
        "telehealth_states": ["IL"],
        "mat": True,
        "interpreter_services": True,
        "self_pay": True,
    }


def test_the_key_ignores_case_punctuation_and_street_abbreviations():
    assert samhsa.facility_key("Lakeview, Inc.", "", "12 Main Street", "60601") == samhsa.facility_key(
        "LAKEVIEW INC", "", "12  main st", "60601"
    )
    assert samhsa.facility_key("Lakeview", "", "12 Main St", "60601") != samhsa.facility_key(
        "Lakeview", "East", "12 Main St", "60601"
    )


def test_both_files_merge_into_one_program():
    su = samhsa.program_fields("SA BU MD ADLT MALE".split(), "IL", ("OIT",))
    mh = samhsa.program_fields("MH CHLD YAD FEM SP".split(), "IL", ("PHDT",))
    merged = samhsa.merge({"PHDT": dict(mh, name="MH"), "OIT": dict(su, name="SU")})
    assert merged["name"] == "SU"
    assert merged["services"] == ["mental_health", "substance_use"]
    assert (merged["min_age"], merged["max_age"], merged["gender"]) == (0, 64, "any")
    assert merged["languages"] == ["en", "es"] and merged["mat"] is True and merged["active"] is True


def test_non_iop_lines_and_other_states_are_skipped_not_errors(tmp_path):
    path = write(tmp_path, [line(codes="SA * ORT"), line(state="TX", zip_code="78701"), line()])
    rows = list(samhsa.read_file(path, states={"IL"}))
    assert [(r.line, r.skip, r.error) for r in rows] == [
        (2, "not an IOP setting", None),
        (3, "other state", None),
        (4, None, None),
    ]


def test_bad_lines_are_named_and_the_rest_read(tmp_path):
    path = write(
        tmp_path,
        [
            line(zip_code="00000"),
            line(name1=""),
            line(codes=SU_CODES + " ZZZ"),
            "only,three,columns",
            line(name1="Good One"),
        ],
    )
    rows = list(samhsa.read_file(path))
    assert [(r.line, r.error) for r in rows] == [
        (2, "unknown ZIP '00000'"),
        (3, "no name"),
        (4, "unknown service code ZZZ"),
        (5, "3 columns instead of 13"),
        (6, None),
    ]


def test_a_non_utf8_byte_names_its_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        ("\n".join([HEADER, line(), line(name1="Caf\xe9 Recovery"), line(name1="After")]) + "\n").encode("latin-1")
    )
    rows = list(samhsa.read_file(str(path)))
    assert [(r.line, r.error) for r in rows] == [(2, None), (3, "not UTF-8 (byte 0xe9 at column 4)"), (4, None)]


def test_another_header_refuses_the_file(tmp_path):
    path = write(tmp_path, [line()], header="name,street,zip")
    with pytest.raises(samhsa.FileRefused, match="line 1: the header is not the samhsa-nsumhss layout"):
        list(samhsa.read_file(path))


def test_a_truncated_gzip_yields_what_it_read_then_says_so(tmp_path):
    path = write(tmp_path, [line(name1="Facility %d" % n) for n in range(3000)], gzipped=True)
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    rows = []
    with pytest.raises(samhsa.TruncatedFile, match=r"^line \d+: the file ends early"):
        for row in samhsa.read_file(path):
            rows.append(row)
    assert 0 < len(rows) < 3000 and all(r.error is None for r in rows)


def test_gzipped_and_plain_files_read_alike(tmp_path):
    lines = [line(name1="Facility %d" % n) for n in range(5)]
    plain = [r.fields for r in samhsa.read_file(write(tmp_path, lines))]
    gzipped = [r.fields for r in samhsa.read_file(write(tmp_path, lines, gzipped=True))]
    assert plain == gzipped and len(plain) == 5


def test_real_substance_use_file_counts_per_state():
    counts = Counter(r.fields["state"] for r in samhsa.read_file(shared(FILES["substance-use"])) if r.key)
    assert sum(counts.values()) == 5525
    assert counts["IL"] == 326
