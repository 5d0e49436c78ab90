"""The directory import: N-SUMHSS facility rows upserted as unconfirmed programs in batches, each program owning the
fields the import last wrote and nobody changed since (docs/directory.md)."""

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from transitions.core import codes
from transitions.core.db import db
from transitions.core.types import new_id
from transitions.directory import samhsa
from transitions.directory.models import ORIGINS, Program
from transitions.identity.models import Organization

BATCH_SIZE = 500
# Exit statuses of `flask directory import` (docs/directory.md).
EXIT_CLEAN, EXIT_SOME_REFUSED, EXIT_NOTHING_IMPORTED = 0, 3, 4


@dataclass
class Summary:
    """What one import did, counted; `problems` counts bad lines by reason (each was reported with its line)."""

    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    refused: str | None = None  # the whole file was refused (another header): nothing imported
    truncated: str | None = None  # the file ended early: what was read is imported, nothing is deactivated
    dry_run: bool = False
    strict: bool = False

    @property
    def write(self):
        """Whether the caller commits: not a dry run, a readable file, and no bad line under --strict."""
        if self.dry_run or self.refused:
            return False
        return not (self.strict and (self.problems or self.truncated))

    @property
    def exit_status(self):
        if self.refused or (self.strict and (self.problems or self.truncated)):
            return EXIT_NOTHING_IMPORTED
        return EXIT_SOME_REFUSED if self.problems or self.truncated else EXIT_CLEAN

    def as_dict(self):
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "skipped": dict(sorted((self.skipped + self.problems).items())),
        }


def _problem_reason(message):
    """The reason a bad line is counted under: its message without the specifics (the code, the ZIP, the byte)."""
    for reason in ("unknown service code", "unknown ZIP", "not UTF-8", "not CSV"):
        if message.startswith(reason):
            return reason
    return message if message == "no name" else message.split(" (")[0]


def _apply(program, merged):
    """Write each merged field the import still owns (unchanged since it last wrote it); True if any changed."""
    applied = dict(program.import_applied or {})
    changed = False
    for name, value in merged.items():
        current = getattr(program, name)
        if name in applied and current != applied[name]:
            continue  # someone edited it since the import wrote it: theirs now
        if current != value:
            setattr(program, name, value)
            changed = True
            if name == "zip":
                program.latitude, program.longitude = codes.zip_location(value)[:2]
        applied[name] = value
    if applied != program.import_applied:
        program.import_applied = applied
    return changed


def _create(row):
    rows = {setting: row.fields for setting in row.settings}
    merged = samhsa.merge(rows)
    latitude, longitude = codes.zip_location(merged["zip"])[:2]
    organization = Organization(id=new_id(), name=merged["name"], kind="iop_provider", payer_ids=[])
    program = Program(
        id=new_id(),
        organization_id=organization.id,
        source="samhsa",
        unconfirmed=True,
        import_key=row.key,
        import_rows=rows,
        import_applied=merged,
        accepts_from=list(ORIGINS),
        latitude=latitude,
        longitude=longitude,
        **merged,
    )
    return organization, program


def _write_batch(batch, summary):
    keys = [row.key for row in batch]
    existing = {p.import_key: p for p in db.session.scalars(select(Program).where(Program.import_key.in_(keys)))}
    touched, new_programs = list(existing.values()), []
    for row in batch:
        program = existing.get(row.key)
        if program is None:
            organization, program = _create(row)
            db.session.add(organization)
            touched.append(organization)
            new_programs.append(program)
            summary.created += 1
            continue
        rows = dict(program.import_rows or {})
        rows.update({setting: row.fields for setting in row.settings})
        if rows != program.import_rows:
            program.import_rows = rows
        if _apply(program, samhsa.merge(rows)):
            summary.updated += 1
        else:
            summary.unchanged += 1
    # The organizations first: a program has no relationship to order its owner's insert before its own.
    db.session.flush()
    db.session.add_all(new_programs)
    db.session.flush()
    # Constant memory: the batch's rows leave the session once written.
    for obj in touched + new_programs:
        db.session.expunge(obj)


def _deactivate_gone(seen, covered, states, summary):
    """Programs this file's settings gave that are no longer in it lose that file's row; with none left, inactive."""
    query = select(Program.id, Program.import_key).where(Program.import_key.is_not(None))
    if states:
        query = query.where(Program.state.in_(states))
    gone = [program_id for program_id, key in db.session.execute(query) if key not in seen]
    for start in range(0, len(gone), BATCH_SIZE):
        programs = db.session.scalars(select(Program).where(Program.id.in_(gone[start : start + BATCH_SIZE]))).all()
        for program in programs:
            rows = program.import_rows or {}
            if not covered & set(rows):
                continue  # only in a file this one is not (the other directory)
            left = {setting: fields for setting, fields in rows.items() if setting not in covered}
            program.import_rows = left
            # A program its provider has claimed is theirs to close: the directory dropping it retires nothing.
            merged = samhsa.merge(left) or ({} if program.claimed_at else {"active": False})
            was_active = program.active
            _apply(program, merged)
            if was_active and not program.active:
                summary.deactivated += 1
            elif merged:
                summary.updated += 1
            else:
                summary.unchanged += 1
        db.session.flush()
        for program in programs:
            db.session.expunge(program)


def import_file(path, states=None, strict=False, dry_run=False, on_progress=None, on_problem=None):
    """Import one N-SUMHSS facility file; the caller commits when summary.write (else rolls back).

    on_problem(line, message) hears each bad line as it is read; on_progress(bytes_read) the position."""
    summary = Summary(dry_run=dry_run, strict=strict)
    states = frozenset(s.upper() for s in states) if states else None
    seen, covered, batch = set(), set(), []
    try:
        for row in samhsa.read_file(path, states, on_progress):
            summary.lines += 1
            covered.update(row.settings)
            if row.error:
                summary.problems[_problem_reason(row.error)] += 1
                if on_problem:
                    on_problem(row.line, row.error)
                continue
            if row.skip:
                summary.skipped[row.skip] += 1
                continue
            if row.key in seen:
                summary.skipped["same facility as an earlier line"] += 1
                continue
            seen.add(row.key)
            batch.append(row)
            if len(batch) >= BATCH_SIZE:
                _write_batch(batch, summary)
                batch = []
    except samhsa.FileRefused as refusal:
        summary.refused = str(refusal)
        return summary
    except samhsa.TruncatedFile as truncation:
        summary.truncated = str(truncation)
        if on_problem:
            on_problem(None, str(truncation))
    if batch:
        _write_batch(batch, summary)
    if not summary.truncated:
        # A file read only in part says nothing about the facilities after the break.
        _deactivate_gone(seen, covered, states, summary)
    return summary
