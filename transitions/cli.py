"""Operator commands: create-admin, seed-demo, scheduler (the APScheduler process), sweep (one pass of its jobs),
set-password, mail test and directory import."""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.identity import commands as identity


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option(
    "--organization",
    "organization_name",
    default=identity.PLATFORM_ORGANIZATION,
    help="Name of the organization the admin belongs to (created if missing).",
)
def create_admin(email, organization_name):
    """Create a platform admin and print its bearer token as the last line."""
    try:
        user, token = identity.create_admin(email, organization_name)
    except DomainError as error:  # a message reads better than a traceback at the terminal
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from None
    db.session.commit()
    click.echo("Created admin %s (%s). Bearer token (shown once):" % (user.email, user.id))
    click.echo(token)


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--programs", default=300, show_default=True, type=click.IntRange(min=1), help="How many IOP programs to create."
)
@click.option("--seed", default=7, show_default=True, help="Random seed, for a repeatable directory.")
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Folder with the SAMHSA 2022 directory files (default: ../shared/data next to the checkout, "
    "if present; without them a built-in generator makes the programs up).",
)
@click.option(
    "--history-weeks",
    default=None,
    type=click.IntRange(min=0),
    help="Weeks of history before now (referrals, offers, attendance, follow-ups judged), so the metrics and the "
    "board have figures (default: DEMO_HISTORY_WEEKS, 12; 0 for none).",
)
def seed_demo(programs, seed, data_dir, history_weeks):
    """Load a realistic demo: directory, organizations, one user per role, referrals and weeks of history."""
    from transitions import demo

    try:
        summary = demo.seed(
            program_count=programs,
            seed=seed,
            data_dir=data_dir or current_app.config.get("SEED_DATA_DIR"),
            history_weeks=history_weeks,
        )
    except DomainError as error:  # e.g. a demo email already taken: a message, not a traceback
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from None
    db.session.commit()
    # scripts/run serves on $PORT; the hints should point where the service actually listens.
    click.echo(demo.describe(summary, base_url="http://127.0.0.1:%s" % os.environ.get("PORT", "5000")))


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduler process (blocking): follow-up checks, offer expiry, webhook delivery, key purge."""
    import logging

    from transitions import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One summary line per job run (from transitions.scheduler) says more than APScheduler's own chatter.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler.run_forever(current_app._get_current_object(), echo=lambda line: click.echo(line, nl=True))


def _parse_now(ctx, param, value):
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use an RFC 3339 time such as 2026-12-01T09:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command("sweep")
@with_appcontext
@click.option(
    "--now",
    callback=_parse_now,
    default=None,
    metavar="TIME",
    help="Run as of this RFC 3339 time (default: now), e.g. 2026-12-01T09:00:00Z.",
)
def sweep_command(now):
    """Run one pass of every periodic job as of a time, print what each did, and exit."""
    from transitions import scheduler

    app = current_app._get_current_object()
    for job_id, summary in scheduler.run_pass(app, now):
        click.echo("%s: %s" % (job_id, summary))


@click.command("set-password")
@with_appcontext
@click.argument("email")
def set_password_command(email):
    """Set a user's web password from a hidden prompt (or one line of stdin); signs them out everywhere."""
    import sys

    from transitions.identity import passwords
    from transitions.identity.models import User

    user = db.session.scalar(db.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No user with the email %s." % email)
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        # Scripts pipe the password in: one line, so it never appears in argv or the shell history.
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        passwords.set_password(user, password)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(" ".join(sum((error.errors or {}).values(), [])) or error.detail) from None
    db.session.commit()
    click.echo("Password set for %s (%s); their open web sessions were signed out." % (user.email, user.role))


@click.group("directory")
def directory_group():
    """The IOP directory: import the national facility directory (docs/directory.md)."""


def _check_states(ctx, param, values):
    from transitions.core import codes

    states = tuple(value.strip().upper() for value in values)
    unknown = [state for state in states if state not in codes.us_states()]
    if unknown:
        raise click.BadParameter("not a US state: %s" % ", ".join(unknown))
    return states


# Bad lines reported one by one up to this many; the summary counts them all.
PROBLEM_LINES_SHOWN = 200


@directory_group.command("import")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format", "file_format", type=click.Choice(["samhsa-nsumhss"]), default="samhsa-nsumhss", show_default=True
)
@click.option("--state", "states", multiple=True, callback=_check_states, help="Only this state (repeatable).")
@click.option("--dry-run", is_flag=True, help="Read and count everything, write nothing.")
@click.option("--strict", is_flag=True, help="Import nothing if any line is bad.")
@click.pass_context
def directory_import_command(ctx, file, file_format, states, dry_run, strict):
    """Import a SAMHSA N-SUMHSS facility file (plain or gzipped) as unconfirmed programs.

    Exit status: 0 all imported, 3 bad lines reported and the rest imported, 4 nothing imported."""
    import sys

    from transitions.directory import commands as directory

    shown = []

    def on_problem(line, message):
        if len(shown) < PROBLEM_LINES_SHOWN:
            click.echo("line %d: %s" % (line, message) if line else message, err=True)
        elif len(shown) == PROBLEM_LINES_SHOWN:
            click.echo("(more bad lines: counted in the summary)", err=True)
        shown.append(line)

    size = max(os.path.getsize(file), 1)
    run = dict(states=states, strict=strict, dry_run=dry_run, on_problem=on_problem)
    if sys.stdout.isatty():
        with click.progressbar(length=size, label="Importing %s" % os.path.basename(file)) as bar:
            summary = directory.import_directory(file, on_progress=lambda done: bar.update(done - bar.pos), **run)
    else:
        tenths = []

        def plain_progress(done):
            tenth = done * 10 // size
            if tenth > len(tenths) and tenth < 10:
                tenths.extend(range(len(tenths), tenth))
                click.echo("read %d%% of %s" % (tenth * 10, os.path.basename(file)))

        summary = directory.import_directory(file, on_progress=plain_progress, **run)
    if summary.write:
        db.session.commit()
    else:
        db.session.rollback()
    if summary.refused:
        click.echo("Refused: %s. Nothing imported." % summary.refused, err=True)
        ctx.exit(summary.exit_status)
    counts = summary.as_dict()
    for name in ("created", "updated", "unchanged", "deactivated"):
        click.echo("%s: %d" % (name, counts[name]))
    click.echo("skipped: %d" % sum(counts["skipped"].values()))
    for reason, count in counts["skipped"].items():
        click.echo("  %s: %d" % (reason, count))
    if summary.truncated:
        click.echo("The file ended early; nothing was marked inactive.", err=True)
    if dry_run:
        click.echo("Dry run: nothing written.")
    elif not summary.write:
        click.echo("--strict: nothing written, %d bad line(s)." % sum(summary.problems.values()), err=True)
    ctx.exit(summary.exit_status)


@click.group("mail")
def mail_group():
    """Mail to people: check the SMTP settings."""


@mail_group.command("test")
@with_appcontext
@click.argument("email")
def mail_test_command(email):
    """Send a test message to EMAIL through SMTP_URL now, to check the mail settings."""
    from transitions.notify import commands as notify

    try:
        click.echo(notify.send_test_mail(email))
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@click.group("adt")
def adt_group():
    """ADT feeds (HL7 v2): the MLLP listener and re-running stored messages."""


@adt_group.command("listen")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=2575, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--idle-timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds.")
@click.option(
    "--processes",
    default=None,
    type=click.IntRange(min=1),
    help="Listener processes sharing the port (default: ADT_LISTENER_PROCESSES, 1); one per core to use them all.",
)
def adt_listen_command(host, port, idle_timeout, processes):
    """Run the MLLP listener (blocking): each message stored, applied and acknowledged."""
    import logging

    from transitions.adt import listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    listener.run(app, host, port, idle_timeout, echo=lambda line: click.echo(line, nl=True), processes=processes)


@adt_group.command("reprocess")
@with_appcontext
@click.option("--since", callback=_parse_now, default=None, metavar="TIME", help="Only messages received since.")
def adt_reprocess_command(since):
    """Re-run stored messages not yet processed (after a fix or a facility registered), in arrival order."""
    from transitions.adt import commands as adt
    from transitions.core.clock import utcnow

    counts = adt.reprocess(since, utcnow())
    click.echo(", ".join("%s: %d" % item for item in sorted(counts.items())) or "nothing to reprocess")


def init_app(app):
    app.cli.add_command(set_password_command)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(sweep_command)
    app.cli.add_command(mail_group)
    app.cli.add_command(directory_group)
    app.cli.add_command(adt_group)
