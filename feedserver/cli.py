"""The ``feedserver`` command: database schema, demo content, users and API tokens.

``feedserver …`` (the console script, :func:`main`) and ``flask --app
feedserver …`` run the same commands: :func:`init_app` adds them to every
app's ``app.cli`` and :data:`main` carries them itself, so ``feedserver
--help`` needs no database. Failures are one line on stderr and exit status 1,
never a traceback.

Other parts of the application add their commands without editing this file:
list the module in :data:`COMMAND_MODULES` and give it a
``register(group: click.Group) -> None`` that adds its commands to ``group``
(it may use :func:`clean_errors` from here). A listed module that does not
exist yet is skipped.

Start-up is part of every command's time (a cron'd ``poll --once`` is mostly
start-up when nothing changed upstream), so a command that needs only the
settings and the database runs in the lean app (:mod:`feedserver.commands`)
and this module and the command
modules import what a command uses inside the command, not at the top.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import exc as sa_exc

from feedserver.commands import CliGroup, create_app_for_command
from feedserver.db import get_db
from feedserver.errors import AppError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

F = TypeVar("F", bound=Callable[..., Any])

# Modules that add commands (see the module docstring), in --help order.
COMMAND_MODULES = ("feedserver.aggregation.cli", "feedserver.content.cli", "feedserver.ops.serve")


def clean_errors(command: F) -> F:
    """Turn the application's and the database's errors into one-line messages."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AppError as exc:
            raise click.ClickException(exc.message) from None
        except sa_exc.DBAPIError as exc:
            raise click.ClickException(_database_problem(exc)) from None
        except sa_exc.SQLAlchemyError as exc:
            raise click.ClickException(f"Database error: {exc}") from None
        except OSError as exc:  # a file to read or write: missing, unwritable, a device
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except UnicodeError:  # an argument in no UTF-8 (the shell passed raw bytes)
            raise click.ClickException(
                "An argument or the standard input is not valid UTF-8 text."
            ) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the wrapped signature at run time


def _database_problem(exc: sa_exc.DBAPIError) -> str:
    detail = (str(exc.orig) or type(exc.orig).__name__).strip().splitlines()[0]
    lowered = detail.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"The database has no tables yet ({detail}): run 'feedserver db upgrade'."
    url = get_db().engine.url.render_as_string(hide_password=True)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return f"Cannot use the database {url}: {detail}"
    return f"Database error ({url}): {detail}"


def _session() -> Session:
    return get_db().sessions()


# --- db ------------------------------------------------------------------------------

db_group = CliGroup("db", help="Manage the database schema.")


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@clean_errors
def db_upgrade(revision: str) -> None:
    """Create the tables, or migrate them to the newest schema."""
    from alembic.runtime.migration import MigrationContext

    from feedserver import migrate

    engine = get_db().engine
    migrate.upgrade(engine, revision)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    url = engine.url.render_as_string(hide_password=True)
    click.echo(f"Database {url} is at revision {current}.")


# --- demo ----------------------------------------------------------------------------


@click.command("demo")
@with_appcontext
@clean_errors
def demo() -> None:
    """Load the demo content, if the database has no articles yet."""
    try:
        from feedserver.demo import load_demo  # type: ignore[import-not-found, unused-ignore]  # the demo package may be left out of a build
    except ModuleNotFoundError as exc:
        if exc.name != "feedserver.demo":
            raise
        raise click.ClickException("This build has no demo content (feedserver.demo).") from None
    with _session() as session:
        loaded = load_demo(session)
        session.commit()
    if loaded:
        click.echo("Loaded the demo content.")
    else:
        click.echo("The database already has articles; demo content not loaded.")


# --- users ---------------------------------------------------------------------------

users_group = CliGroup("users", help="Manage admin users.")


def _read_password(from_stdin: bool) -> str:
    """Read a new password from one line of stdin, or prompt twice for it."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise click.UsageError("--password-stdin: no password on standard input.")
        return password
    return str(
        click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, default="", show_default=False
        )
    )


@users_group.command("create")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)
@clean_errors
def users_create(name: str, password_stdin: bool) -> None:
    """Create an admin user NAME (asks for the password)."""
    from feedserver import accounts

    accounts.check_name(name)
    with _session() as session:
        # Say so before asking for a password that would be thrown away.
        if accounts.find_user(session, name) is not None:
            raise click.ClickException(f"A user called {name!r} already exists.")
        accounts.create_user(session, name, _read_password(password_stdin))
        session.commit()
    click.echo(f"Created user {name!r}.")


@users_group.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)
@clean_errors
def users_set_password(name: str, password_stdin: bool) -> None:
    """Give user NAME a new password (and lift a login lock)."""
    from feedserver import accounts

    with _session() as session:
        user = accounts.get_user(session, name)
        accounts.set_password(session, user, _read_password(password_stdin))
        session.commit()
    click.echo(f"Changed the password of {name!r}.")


@users_group.command("list")
@clean_errors
def users_list() -> None:
    """List the admin users."""
    from sqlalchemy import select

    from feedserver.models import User

    with _session() as session:
        users = list(session.scalars(select(User).order_by(User.name)))
    if not users:
        click.echo("No users yet: add one with 'feedserver users create NAME'.", err=True)
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        click.echo(f"{user.name}\tcreated {user.created_at:%Y-%m-%d}\tlast login {last}")


# --- tokens --------------------------------------------------------------------------

tokens_group = CliGroup("tokens", help="Manage API tokens.")


@tokens_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (shown in lists).")
@clean_errors
def tokens_create(name: str, label: str) -> None:
    """Issue an API token for user NAME and print it (only the token, on stdout)."""
    from feedserver import accounts

    with _session() as session:
        user = accounts.get_user(session, name)
        token = accounts.create_token(session, user, label)
        session.commit()
    click.echo(token)
    click.echo("Keep it now: it is not shown again.", err=True)


@tokens_group.command("list")
@click.argument("name")
@clean_errors
def tokens_list(name: str) -> None:
    """List user NAME's tokens: id, prefix, label, use and state."""
    from feedserver import accounts

    with _session() as session:
        tokens = accounts.list_tokens(session, accounts.get_user(session, name))
    if not tokens:
        click.echo(f"{name!r} has no tokens.", err=True)
    for t in tokens:
        used = f"used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        label = t.label or "-"
        click.echo(
            f"{t.id}\t{t.prefix}…\t{label}\tcreated {t.created_at:%Y-%m-%d}\t{used}\t{state}"
        )


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@clean_errors
def tokens_revoke(token_id: int) -> None:
    """Revoke the API token with this id (see 'tokens list')."""
    from feedserver import accounts

    with _session() as session:
        token = accounts.revoke_token(session, token_id)
        owner = token.user.name
        session.commit()
    click.echo(f"Revoked token {token_id} ({token.prefix}…) of {owner!r}.")


# --- wiring --------------------------------------------------------------------------

COMMANDS: tuple[click.Command, ...] = (db_group, demo, users_group, tokens_group)


def add_commands(group: click.Group) -> None:
    """Add every command, ours and the listed modules', to ``group``."""
    for command in COMMANDS:
        group.add_command(command)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports does not
                raise
            continue
        module.register(group)


def init_app(app: Flask) -> None:
    """Make the commands available as ``flask --app feedserver …``."""
    add_commands(app.cli)


main = FlaskGroup(
    name="feedserver",
    create_app=create_app_for_command,
    help="The feedserver command line: database, demo content, users, API tokens.",
)
add_commands(main)

if __name__ == "__main__":  # python -m feedserver.cli
    sys.exit(main())
