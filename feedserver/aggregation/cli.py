"""Commands for upstream sources and polling: ``sources …``, ``poll --once``, ``worker``.

Registered by :mod:`feedserver.cli` through :func:`register`. ``sources …``
and ``poll --once`` run in the lean command-line app (settings and database);
``poll`` without ``--once`` and ``worker`` in the whole application, since the
WebSub hub's sender they run beside polling renders feeds. What a command
uses is imported inside it, so loading the command line stays cheap.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click
from flask import current_app

from feedserver.commands import CliGroup, command_app
from feedserver.db import get_db

if TYPE_CHECKING:
    from flask import Flask

    from feedserver.aggregation.jobs import Outcome, PollSettings
    from feedserver.models import Source


MAX_OPML_FILE = 32 * 1024 * 1024  # bytes: 50,000 outlines take about 10 MiB


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """feedserver.cli.clean_errors, looked up at call time (cli imports this module)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from feedserver.cli import clean_errors as clean

        return clean(command)(*args, **kwargs)

    return wrapper


sources_group = CliGroup("sources", help="Manage upstream sources (feeds we aggregate).")


def _settings() -> PollSettings:
    from feedserver.aggregation.jobs import PollSettings

    return PollSettings.from_config(current_app.config)


def _describe(source: Source) -> str:
    state = "enabled" if source.enabled else "disabled"
    return f"{source.id}\t{source.slug}\t{source.feed_url or '-'}\t{state}"


@sources_group.command("add")
@click.argument("url")
@click.option(
    "--section", "-s", default=None, help="Section (slug, id or name) its entries land in."
)
@click.option("--name", default=None, help="Name to show; default: the feed's title.")
@clean_errors
def sources_add(url: str, section: str | None, name: str | None) -> None:
    """Add a source by its feed's URL or an HTML page's; fetch it and store its entries."""
    from feedserver.aggregation import sources

    source = sources.add_source(
        get_db(), sources.app_fetcher(), _settings(), url, section=section, name=name
    )
    with get_db().session() as session:
        count = sources.article_counts(session, [source.id])[source.id]
    click.echo(f"Added source {source.id} {source.slug!r} ({source.feed_url}): {count} entries.")


@sources_group.command("list")
@clean_errors
def sources_list() -> None:
    """List every source: id, slug, feed URL, state, last status and error."""
    from sqlalchemy import select

    from feedserver.aggregation import sources
    from feedserver.models import Source

    with get_db().session() as session:
        rows = list(session.scalars(select(Source).order_by(Source.id)))
        counts = sources.article_counts(session, [s.id for s in rows])
    if not rows:
        click.echo("No sources yet: add one with 'feedserver sources add URL'.")
    for source in rows:
        health = f"status={source.last_status or '-'} errors={source.error_count}"
        if source.last_error:
            health += f" last_error={source.last_error[:120]!r}"
        click.echo(f"{_describe(source)}\tarticles={counts[source.id]}\t{health}")


@sources_group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--section", "-s", default=None, help="Section for every feed (else its category).")
@clean_errors
def sources_import(file: BinaryIO, section: str | None) -> None:
    """Import an OPML file ('-' for stdin); the poller fetches the new sources."""
    from feedserver.aggregation import sources

    body = file.read(MAX_OPML_FILE + 1)
    if len(body) > MAX_OPML_FILE:
        raise click.ClickException(
            f"{file.name}: larger than {MAX_OPML_FILE // (1024 * 1024)} MiB; not an OPML file "
            "this command reads."
        )
    summary = sources.import_opml(get_db(), sources.app_fetcher(), body, section=section)
    for new in summary.created_sections:
        click.echo(f"created section\t{new.id}\t{new.slug}\t{new.name}")
    for source in summary.added:
        click.echo(f"added\t{source.id}\t{source.feed_url}")
    for item in summary.skipped:
        click.echo(f"skipped\t{item['url']}\t{item['reason']}")
    for item in summary.refused:
        click.echo(f"refused\t{item['url']}\t{item['reason']}", err=True)
    made = len(summary.created_sections)
    click.echo(
        f"{len(summary.added)} added, {len(summary.skipped)} skipped, "
        f"{len(summary.refused)} refused; {made} section{'' if made == 1 else 's'} created."
    )


@sources_group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@clean_errors
def sources_export(output: Path | None) -> None:
    """Write every source as OPML 2.0 (to stdout, or --output FILE)."""
    from feedserver.aggregation import sources

    with get_db().session() as session:
        body = sources.export_opml(session, current_app.config["SITE_TITLE"])
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)


@sources_group.command("remove")
@click.argument("source_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@clean_errors
def sources_remove(source_id: int, yes: bool) -> None:
    """Delete a source with its articles and upstream authors."""
    from feedserver.aggregation import removal
    from feedserver.models import Source
    from feedserver.web import get_or_404

    with get_db().session() as session:
        source = get_or_404(session, Source, source_id)
        count, kept = removal.removal_counts(session, source)
        if not yes:
            staff = f" ({kept} staff articles that cite it stay)" if kept else ""
            click.confirm(
                f"Delete source {source.id} {source.name!r} and its {count} articles?{staff}",
                abort=True,
            )
        removed = removal.remove_source(session, source)
    click.echo(f"Removed source {source_id} and {removed} articles.")


@click.command("poll")
@click.option("--once", is_flag=True, help="Refresh every due source once, then exit.")
@click.option(
    "--all", "everything", is_flag=True,
    help="With --once: refresh every enabled source now, due or not.",
)  # fmt: skip
@clean_errors
def poll(once: bool, everything: bool) -> None:
    """Refresh due sources: once with a progress bar (--once), or forever like 'worker'."""
    if everything and not once:
        raise click.UsageError("--all works with --once (a worker polls what is due).")
    if not once:
        _work(command_app(lean=False))
        return
    # One pass needs the settings and the database only: the lean app.
    from feedserver.aggregation import poller, websub
    from feedserver.aggregation.worker import stop_in_process
    from feedserver.models import utcnow

    stop_in_process(command_app(lean=True))  # the app's own poller, if it started one
    db = get_db()
    if everything:
        poller.make_all_due(db)
    cutoff = utcnow()
    total = poller.count_due(db, cutoff)
    failed: list[Outcome] = []
    with (
        poller.Poller(db, _settings()) as runner,
        click.progressbar(length=total, label="Polling", show_pos=True, file=sys.stderr) as bar,
    ):

        def progress(outcome: Outcome) -> None:
            if outcome.error:
                failed.append(outcome)
            bar.update(1)

        with stopped_by_signals() as stop:
            stats = runner.poll_due(cutoff, progress=progress, stop=stop)
    if stop.is_set():
        click.echo(
            f"Stopped: {stats.sources} sources polled, the rest handed back, due at once.",
            err=True,
        )
        raise SystemExit(130)
    websub.maintain(db, _settings())  # WebSub subscription requests due now
    for outcome in failed:
        click.echo(f"source {outcome.source_id}: {outcome.error}", err=True)
    click.echo(
        f"{stats.sources} sources polled: {stats.added} new entries, {stats.updated} updated, "
        f"{stats.not_modified} not modified, {stats.errors} errors."
    )


@contextmanager
def stopped_by_signals() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C or SIGTERM; a second one stops the usual way.

    ``poll --once`` then ends as the worker does: the refreshes under way
    finish, and the sources not begun are handed back, due at once.
    """
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # the second: as if no handler were set
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.set()
        click.echo("\nStopping: finishing the refreshes under way (again to stop now).", err=True)

    kept: dict[int, Any] = {}
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            kept[number] = signal.signal(number, on_signal)
    except ValueError:  # not the main thread (a test's runner): no handlers, no stop
        pass
    try:
        yield stop
    finally:
        for kept_number, handler in kept.items():
            signal.signal(kept_number, handler)


def _work(app: Flask) -> None:
    """Poll until stopped, with the WebSub hub's sender beside (the whole app: it renders)."""
    from feedserver.aggregation.worker import Worker, stop_in_process
    from feedserver.ops.health import schema_problem
    from feedserver.publishing import websub

    problem = schema_problem(get_db().engine)
    if problem is not None:  # not migrated: every pass would fail the same way
        raise click.ClickException(f"Cannot poll: {problem}.")
    stop_in_process(app)  # this command polls instead of the app's own poller thread
    worker = Worker(get_db(), _settings(), tombstone_days=current_app.config["TOMBSTONE_DAYS"])
    worker.install_signal_handlers()
    click.echo("Polling until stopped (Ctrl-C or SIGTERM finishes the refreshes under way).")
    websub.start_deliverer(app, startup_delay=0.0)  # WebSub hub deliveries, beside polling
    try:
        worker.run()
    finally:
        websub.stop_deliverer(app)


@click.command("worker")
@clean_errors
def worker() -> None:
    """Poll forever; SIGTERM or Ctrl-C stops after the refreshes under way."""
    _work(command_app(lean=False))


def register(group: click.Group) -> None:
    """Add the sources, poll and worker commands to the feedserver command."""
    group.add_command(sources_group)
    group.add_command(poll)
    group.add_command(worker)
