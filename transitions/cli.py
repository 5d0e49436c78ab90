"""Operator commands: create-admin, seed-demo (and, with later issues, scheduler and sweep)."""
import click
from flask import current_app
from flask.cli import with_appcontext

from .errors import DomainError
from .extensions import db
from .models import Organization
from .services import organizations


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option("--organization", "organization_name", default="Platform administration",
              help="Name of the organization the admin belongs to (created if missing).")
def create_admin(email, organization_name):
    """Create a platform admin and print its bearer token as the last line."""
    organization = db.session.scalar(db.select(Organization).where(Organization.name == organization_name))
    if organization is None:
        organization = organizations.create_organization(organization_name, "hospital")
    try:
        user, token = organizations.create_user(email, organization.id, "admin")
    except DomainError as error:  # a message reads better than a traceback at the terminal
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from None
    db.session.commit()
    click.echo("Created admin %s (%s). Bearer token (shown once):" % (user.email, user.id))
    click.echo(token)


@click.command("seed-demo")
@with_appcontext
@click.option("--programs", default=300, show_default=True, type=click.IntRange(min=1),
              help="How many IOP programs to create.")
@click.option("--seed", default=7, show_default=True, help="Random seed, for a repeatable directory.")
@click.option("--data-dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder with the SAMHSA 2022 directory files (default: ../shared/data next to the checkout, "
                   "if present; without them a built-in generator makes the programs up).")
def seed_demo(programs, seed, data_dir):
    """Load a realistic demo: directory, organizations, one user per role, referrals."""
    from . import demo

    try:
        summary = demo.seed(program_count=programs, seed=seed,
                            data_dir=data_dir or current_app.config.get("SEED_DATA_DIR"))
    except DomainError as error:  # e.g. a demo email already taken: a message, not a traceback
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from None
    db.session.commit()
    click.echo(demo.describe(summary))


def init_app(app):
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
