"""What the command modules share: the app a command runs in.

Under the ``feedserver`` console script (:data:`feedserver.cli.main`) a
command that needs only the settings and the database (``db``, ``users``,
``tokens``, ``sources``, ``poll --once``) runs in
:func:`feedserver.create_cli_app`, which starts several times faster than
the web application :func:`feedserver.create_app` the other commands get.
Under ``flask --app feedserver …`` or a test's CLI runner, the app given
there is used for every command.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import current_app
from flask.cli import NoAppException, ScriptInfo
from sqlalchemy import exc as sa_exc

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])


def command_app(*, lean: bool = True) -> Flask:
    """Push the app this command runs in (for the rest of the command) and return it.

    Under the ``feedserver`` console script a ``lean`` command gets
    :func:`feedserver.create_cli_app` (settings, database, logging: it starts
    several times faster than the web application); any other command the
    whole :func:`feedserver.create_app`. Under ``flask --app …`` or a test's
    runner the app given there is used, whatever ``lean`` says.
    """
    if current_app:
        return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]  # LocalProxy is typed as the proxied object
    ctx = click.get_current_context()
    info = ctx.ensure_object(ScriptInfo)
    if lean and info.create_app is create_app_for_command:
        info.create_app = create_lean_app_for_command
    app = info.load_app()
    ctx.with_resource(app.app_context())
    return app


def with_cli_appcontext(f: F) -> F:
    """Like Flask's ``with_appcontext``, in the lean app (:func:`command_app`)."""

    @click.pass_context
    def decorator(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        command_app(lean=True)
        return ctx.invoke(f, *args, **kwargs)

    return functools.update_wrapper(decorator, f)  # type: ignore[return-value]  # update_wrapper keeps the wrapped signature at run time


class CliGroup(click.Group):
    """A group whose commands run in the lean app (:func:`with_cli_appcontext`)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:  # type: ignore[override]  # click's overloads; the plain decorator form is all we use
        def decorator(f: Callable[..., Any]) -> click.Command:
            command: click.Command = super(CliGroup, self).command(*args, **kwargs)(
                with_cli_appcontext(f)
            )
            return command

        return decorator


def create_app_for_command() -> Flask:
    """Build the app for a command, turning bad configuration into a clean message."""
    from feedserver import create_app

    return _configured(create_app)


def create_lean_app_for_command() -> Flask:
    """The lean app of a command that needs only the settings and the database."""
    from feedserver import create_cli_app

    return _configured(create_cli_app)


class StartError(NoAppException):
    """A setting or the instance folder stops the command: one line, no usage.

    Flask's NoAppException is a usage error, so click printed the command's
    usage and "Try --help" above it, as for a mistyped option (README: one
    line naming the variable).
    """

    exit_code = 1  # a failure, as every command's (not 2, a mistyped command line)

    def show(self, file: Any = None) -> None:
        click.ClickException.show(self, file)


def _configured(factory: Callable[[], Flask]) -> Flask:
    try:
        return factory()
    except (ValueError, sa_exc.ArgumentError, ImportError) as exc:
        raise StartError(f"Cannot start feedserver: {exc}") from None
    except OSError as exc:  # the instance folder: a file in the way, no permission, /proc
        where = f" {exc.filename}:" if exc.filename else ""
        raise StartError(
            f"Cannot start feedserver:{where} {exc.strerror or exc} (FEEDSERVER_INSTANCE_PATH)"
        ) from None
