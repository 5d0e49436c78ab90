"""The SAMHSA N-SUMHSS facility file read as program fields: the service-code table and a streaming row reader.

The table below is the one mapping of the files' codes to program fields; docs/directory.md shows it and a test
keeps the two equal and checks that every code the 2022 files use is either mapped or ignored here.
"""

import codecs
import csv
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field

from transitions.core import codes
from transitions.core.fields import PHONE

FORMAT = "samhsa-nsumhss"
COLUMNS = (
    "name1",
    "name2",
    "street1",
    "street2",
    "city",
    "state",
    "zip",
    "phone",
    "intake1",
    "intake2",
    "intake1a",
    "intake2a",
    "service_code_info",
)

# ---------------------------------------------------------------- the code table
# code -> (program field, value). "setting" marks the rows imported at all: intensive outpatient in the substance use
# file, partial hospitalization/day treatment in the mental health file (which has no IOP code).
# Payer values may name {state}: the facility's state, lower-case.
CODE_TABLE = {
    "OIT": ("setting", "OIT"),
    "PHDT": ("setting", "PHDT"),
    "SA": ("services", "substance_use"),
    "MH": ("services", "mental_health"),
    "SUMH": ("services", "co_occurring"),
    "CO": ("services", "co_occurring"),
    "BU": ("mat", True),
    "NU": ("mat", True),
    "MU": ("mat", True),
    "MM": ("mat", True),
    "BUM": ("mat", True),
    "UB": ("mat", True),
    "UN": ("mat", True),
    "OTP": ("mat", True),
    "PMAT": ("mat", True),
    "CHLD": ("ages", "0-17"),
    "YAD": ("ages", "18-25"),
    "ADLT": ("ages", "26-64"),
    "SNR": ("ages", "65-120"),
    "FEM": ("gender", "female"),
    "MALE": ("gender", "male"),
    "SP": ("languages", "es"),
    "F4": ("languages", "ar"),
    "F17": ("languages", "zh"),
    "F19": ("languages", "ht"),
    "F25": ("languages", "fa"),
    "F28": ("languages", "fr"),
    "F30": ("languages", "de"),
    "F31": ("languages", "el"),
    "F35": ("languages", "he"),
    "F36": ("languages", "hi"),
    "F42": ("languages", "it"),
    "F43": ("languages", "ja"),
    "F47": ("languages", "ko"),
    "F66": ("languages", "pl"),
    "F67": ("languages", "pt"),
    "F70": ("languages", "ru"),
    "F81": ("languages", "tl"),
    "F92": ("languages", "vi"),
    "N24": ("languages", "oj"),
    "AH": ("interpreter_services", True),
    "MD": ("payers", "medicaid-{state}"),
    "SI": ("payers", "state-insurance-{state}"),
    "MC": ("payers", "medicare"),
    "MI": ("payers", "tricare"),
    "PI": ("payers", "private-insurance"),
    "ITU": ("payers", "ihs"),
    "VAF": ("payers", "va"),
    "SF": ("self_pay", True),
    "NP": ("self_pay", True),
    "TELE": ("telehealth_states", "{STATE}"),
}

# Codes the files use that set no program field, by what they describe (why they are ignored).
IGNORED = {
    "other types of care and settings (not intensive outpatient)": (
        "DT HH HI OP RES HID HIT OD ODT OMB ORT RD RL RS GH PSYH CMHC CBHC MSMH OMH ORES PH PSY RTCA RTCC IPSY SHP VAHC"
    ),
    "medication sources and details (MAT is set from the codes above)": (
        "INPE RPE PC NAUT NMAUT ACMA AUINPE AURPE AUPC DB BMW DM MMW RPN PAIN MOA NMOA ULC NOOP"
    ),
    "pharmacotherapies": (
        "ACM DSF METH BSDM BWN BWON BERI NXN VTRL MHIV MHCV LFXD CLND MPEP MMD NRT NSC CHLOR DROPE FLUPH HALOP LOXAP "
        "PERPH PIMOZ PROCH THIOT THIOR TRIFL ARIPI ASENA BREXP CARIP CLOZA ILOPE LURAS OLANZ OLANZF PALIP QUETI RISPE "
        "ZIPRA ANTPYCH"
    ),
    "treatment approaches": (
        "ANG BIA CBT CMI CRV MOTI MXM RELP SACA TRC TWFA AT CRT CFT DBT ECT EMDR GT IDD IPT KIT TMS AIM"
    ),
    "operation, licensing and accreditation": (
        "LCCG DDF IH PVTP PVTN STG TBG VAMC FED STAG STMH STDH CARF COA HFAP HLA JC NCQA FQHC SOTP DEA MHC"
    ),
    "grants and public funds (no payer id a referral carries)": (
        "FSA SAMF CLF CMHG CSBG FG OSF PCF SCJJ SEF SMHA SWFS PA SS"
    ),
    "special groups (no hard constraint)": (
        "AD TAY WN PW MN SE GL VET ADM MF CJ COPSU HV XA DV TRMA TBI ALZ PED PEFP PTSD SED SMI"
    ),
    "assessment, testing, transitional, recovery, education and medical services": (
        "CMHA CSAA ISC OPC MHPA STU SSA SMHD PIEC BABA DAOF DAUT HIVT STDT TBS MST HBT HCT LABT ACC DP NOE OFD SHG HS "
        "AOSS RC PEER EMP TGD TOD ADTX BDTX CDTX MDTX ODTX MDET HAEC TAEC HEOH SAE TCC ICO GCO FCO MCO VOC HAV HBV"
    ),
    "smoking and vaping policies": "SMON SMOP SMPD VAPN VAPP VPPD",
    "exclusive services": "DU DUO AUDO OUDO",
    "languages without an ISO 639-1 code or unnamed (American Indian, other, Hmong, Yupik)": "NX FX F37 N40",
    "ancillary and emergency services": (
        "ACU BC CM CCC DVFP EIH MHS SSD TA IPC SPS ACT AOT CDM COOT DEC FPSY ICM IMR LAD PRS SEMP SH TPC VRS ES CIT "
        "PEON PEOFF WI"
    ),
}
IGNORED_CODES = frozenset(code for group in IGNORED.values() for code in group.split())
KNOWN_CODES = frozenset(CODE_TABLE) | IGNORED_CODES

# The program fields the import writes (and so owns until someone edits them), in the order of the program body.
OWNED_FIELDS = (
    "name",
    "street",
    "city",
    "zip",
    "state",
    "phone",
    "services",
    "min_age",
    "max_age",
    "gender",
    "languages",
    "interpreter_services",
    "payers",
    "self_pay",
    "mat",
    "telehealth_states",
    "active",
)
SERVICE_ORDER = ("mental_health", "substance_use", "co_occurring")
# A file row with no type-of-care code still says what the facility treats by the file it comes from.
SETTING_SERVICE = {"OIT": "substance_use", "PHDT": "mental_health"}


class FileRefused(Exception):
    """The file as a whole cannot be read as this format (another header, not CSV): nothing is imported."""


@dataclass
class Row:
    """One file line read: the facility's key and program fields, or why the line is skipped."""

    line: int
    key: str | None = None
    settings: tuple = ()
    fields: dict = field(default_factory=dict)
    skip: str | None = None  # a reason that is not an error (not intensive outpatient, another state)
    error: str | None = None  # bad input: reported with the line


# ---------------------------------------------------------------- keys

_ABBREVIATIONS = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "suite": "ste",
    "highway": "hwy",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text):
    """Case, punctuation, spacing and the common street abbreviations do not make another facility."""
    words = _NOT_WORD.sub(" ", (text or "").casefold()).split()
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


def facility_key(name1, name2, street, zip_code):
    """The files carry no id: a facility is its normalized name lines, street and ZIP (hashed to a fixed length)."""
    raw = "|".join((normalize(name1), normalize(name2), normalize(street), zip_code))
    return hashlib.sha256(raw.encode()).hexdigest()


# ---------------------------------------------------------------- mapping one row


def program_fields(service_codes, state, settings):
    """The program fields a row's service codes give (CODE_TABLE), for a facility in `state`."""
    services, languages, payers, telehealth, ages, genders = set(), {"en"}, set(), set(), [], set()
    flags = {"mat": False, "interpreter_services": False, "self_pay": False}
    for code in service_codes:
        target, value = CODE_TABLE.get(code, (None, None))
        if target == "services":
            services.add(value)
        elif target in flags:
            flags[target] = True
        elif target == "ages":
            low, high = value.split("-")
            ages.append((int(low), int(high)))
        elif target == "gender":
            genders.add(value)
        elif target == "languages":
            languages.add(value)
        elif target == "payers":
            payers.add(value.format(state=state.lower()))
        elif target == "telehealth_states":
            telehealth.add(state)
    if not services:
        services = {SETTING_SERVICE[setting] for setting in settings}
    return {
        "services": [s for s in SERVICE_ORDER if s in services],
        "min_age": min(low for low, _ in ages) if ages else 18,
        "max_age": max(high for _, high in ages) if ages else 120,
        "gender": genders.pop() if len(genders) == 1 else "any",
        "languages": sorted(languages),
        "payers": sorted(payers),
        "telehealth_states": sorted(telehealth),
        **flags,
    }


def merge(rows_by_setting):
    """One program's fields from its rows in both files: the substance use row's name and address, the union of
    what either offers, the widest ages."""
    rows = [rows_by_setting[s] for s in sorted(rows_by_setting, key=lambda s: (s != "OIT", s))]
    if not rows:
        return None
    merged = dict(rows[0])
    for other in rows[1:]:
        for name in ("services", "languages", "payers", "telehealth_states"):
            union = set(merged[name]) | set(other[name])
            merged[name] = [s for s in SERVICE_ORDER if s in union] if name == "services" else sorted(union)
        for name in ("mat", "interpreter_services", "self_pay"):
            merged[name] = merged[name] or other[name]
        merged["min_age"] = min(merged["min_age"], other["min_age"])
        merged["max_age"] = max(merged["max_age"], other["max_age"])
        if merged["gender"] != other["gender"]:
            merged["gender"] = "any"
    merged["active"] = True
    return merged


def read_row(line, values, states):
    """A Row from one CSV record (values in COLUMNS order)."""
    if len(values) != len(COLUMNS):
        return Row(line, error="%d columns instead of %d" % (len(values), len(COLUMNS)))
    record = dict(zip(COLUMNS, (value.strip() for value in values), strict=True))
    service_codes = [code for code in record["service_code_info"].split() if code != "*"]
    settings = tuple(sorted({code for code in service_codes if CODE_TABLE.get(code, ("",))[0] == "setting"}))
    if not settings:
        return Row(line, skip="not an IOP setting")
    state = record["state"].upper()
    if states and state not in states:
        return Row(line, settings=settings, skip="other state")
    unknown = sorted({code for code in service_codes if code not in KNOWN_CODES})
    if unknown:
        return Row(line, settings=settings, error="unknown service code %s" % ", ".join(unknown))
    if not record["name1"]:
        return Row(line, settings=settings, error="no name")
    zip_code = record["zip"][:5]
    location = codes.zip_location(zip_code) if re.fullmatch(r"[0-9]{5}", zip_code) else None
    if location is None:
        return Row(line, settings=settings, error="unknown ZIP %r" % record["zip"])
    if not re.fullmatch(r"[A-Z]{2}", state):
        state = location[2]
    name = " - ".join(part for part in (record["name1"], record["name2"]) if part)
    street = ", ".join(part for part in (record["street1"], record["street2"]) if part)
    phone = record["phone"] if PHONE.match(record["phone"]) else None
    fields = {
        "name": name[:200],
        "street": street[:200] or None,
        "city": record["city"][:100] or None,
        "zip": zip_code,
        "state": state,
        "phone": phone,
        **program_fields(service_codes, state, settings),
    }
    key = facility_key(record["name1"], record["name2"], record["street1"], zip_code)
    return Row(line, key=key, settings=settings, fields=fields)


# ---------------------------------------------------------------- the file


class _ByteCounter:
    """The raw file, counting the bytes read so far (the progress of a gzipped file is its compressed position)."""

    def __init__(self, raw):
        self.raw = raw
        self.position = 0

    def read(self, size=-1):
        chunk = self.raw.read(size)
        self.position += len(chunk)
        return chunk

    def readable(self):
        return True


def _lines(binary, bad_lines):
    """Decoded lines of a binary stream; a line that is not UTF-8 is noted in bad_lines and decoded with U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")
    for number, raw in enumerate(binary, start=1):
        try:
            yield decoder().decode(raw, final=True)
        except UnicodeDecodeError as error:
            bad_lines[number] = "not UTF-8 (byte 0x%02x at column %d)" % (raw[error.start], error.start + 1)
            yield raw.decode("utf-8", errors="replace")


class TruncatedFile(Exception):
    """The file ended early (a truncated or corrupt gzip): the lines read so far were read."""


def read_file(path, states=None, on_progress=None):
    """Stream a facility file (plain or gzipped), yielding a Row per data line; constant memory.

    Raises FileRefused before the first row for another header, TruncatedFile after the last readable row.
    on_progress(bytes_read) is called every few hundred lines."""
    raw = open(path, "rb")  # noqa: SIM115 - closed in the finally below, after the generator is exhausted
    counter = _ByteCounter(raw)
    try:
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        binary = gzip.GzipFile(fileobj=counter, mode="rb") if magic == b"\x1f\x8b" else counter_lines(counter)
        bad_lines = {}
        reader = csv.reader(_lines(binary, bad_lines))
        try:
            header = next(reader, None)
        except (EOFError, OSError, zlib.error) as error:
            raise FileRefused("cannot read the file: %s" % error) from None
        if header is None:
            raise FileRefused("the file is empty")
        header = [column.strip().lstrip("\ufeff") for column in header]
        if tuple(header) != COLUMNS:
            raise FileRefused(
                "line 1: the header is not the %s layout (expected %s; found %s)"
                % (FORMAT, ",".join(COLUMNS), ",".join(header)[:300])
            )
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as error:
                raise TruncatedFile(
                    "line %d: the file ends early (truncated or corrupt: %s)" % (reader.line_num + 1, error)
                ) from None
            except csv.Error as error:
                yield Row(reader.line_num, error="not CSV: %s" % error)
                continue
            line = reader.line_num
            if line in bad_lines:
                yield Row(line, error=bad_lines.pop(line))
                continue
            if not any(value.strip() for value in values):
                continue
            yield read_row(line, values, states)
            if on_progress and line % 250 == 0:
                on_progress(counter.position)
    finally:
        if on_progress:
            on_progress(counter.position)
        raw.close()


def counter_lines(counter):
    """The lines of an uncompressed file read through the byte counter."""
    buffer = b""
    while True:
        chunk = counter.read(1 << 16)
        if not chunk:
            if buffer:
                yield buffer
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line + b"\n"
