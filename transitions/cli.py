"""Operator commands: create-admin, seed-demo, scheduler (the APScheduler process) and sweep (one pass of its jobs)."""

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
def seed_demo(programs, seed, data_dir):
    """Load a realistic demo: directory, organizations, one user per role, referrals."""
    from transitions import demo

    try:
        summary = demo.seed(
            program_count=programs, seed=seed, data_dir=data_dir or current_app.config.get("SEED_DATA_DIR")
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


def init_app(app):
    app.cli.add_command(set_password_command)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(sweep_command)
