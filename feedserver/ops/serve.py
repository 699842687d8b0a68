"""``feedserver serve``: the production web server in one command.

granian (a Rust HTTP server with a WSGI interface) runs ``--workers``
processes that each build the app with :func:`feedserver.create_app`; this
process supervises them and, when the poller is on (``--poller``, or
``FEEDSERVER_RUN_POLLER``, as under ``make run``), runs the poller itself, so a
web worker never polls. Workers are started with the ``spawn`` method: a fresh
interpreter each, sharing no threads, sockets or database connections with
the supervisor.

Signals (to the supervisor): SIGINT (Ctrl-C) or SIGTERM stop the workers and
the poller — the poller finishes the refreshes under way — and the command
exits; SIGHUP replaces the workers one by one (graceful reload, e.g. after
an upgrade). ``gunicorn wsgi:app`` keeps working for those who prefer it.

Why granian: measured beside nginx on the same feed bytes (bench/serve.py),
it serves cached feeds, 304s and gzip hits several times faster than gunicorn's
sync or threaded workers (bench/results/).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Any

import click

log = logging.getLogger(__name__)

# Threads per worker that run the WSGI app. One keeps the GIL uncontended: a
# second thread nearly doubled the CPU a 304 costs (19 → 34 µs a request, in
# one run, bench/results/). More threads let a slow cold render not hold up the
# cached hits queued behind it in the same worker; with one, the other workers
# take them.
DEFAULT_THREADS = 1
# Seconds a stop gives the refreshes under way: a slow upstream could hold
# Ctrl-C for the whole fetch time-out. What is cut stays leased and is
# fetched again; a store cut mid-way is rolled back whole.
POLLER_STOP_WAIT = 5.0
WORKER_STOP_WAIT = 10  # seconds a worker may take to finish its requests


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class PollerThread:
    """The poller, run in the supervisor beside the granian workers."""

    def __init__(self) -> None:
        self.worker: Any = None
        self.thread: threading.Thread | None = None
        self.app: Any = None
        # Its fetch threads still wait on an upstream: the interpreter would
        # wait for them at exit (concurrent.futures joins its threads).
        self.abandoned = False

    def start(self) -> None:
        from feedserver import create_app
        from feedserver.aggregation.refresh import PollSettings
        from feedserver.aggregation.worker import Worker
        from feedserver.db import get_db

        app = create_app({"RUN_POLLER": False, "FAST_FEEDS": False})
        self.worker = Worker(get_db(app), PollSettings.from_config(app.config), parse_processes=0)
        self.thread = threading.Thread(
            target=self.worker.run, name="feedserver-poller", daemon=True
        )
        self.thread.start()
        from feedserver.publishing import websub

        self.app = app
        websub.start_deliverer(app)  # the WebSub hub's sender, beside the poller

    def stop(self) -> None:
        if self.worker is None or self.thread is None:
            return
        worker, thread, self.worker, self.thread = self.worker, self.thread, None, None
        log.info("stopping the poller: finishing the refreshes under way")
        if self.app is not None:
            from feedserver.publishing import websub

            websub.stop_deliverer(self.app)
        worker.stop()
        thread.join(POLLER_STOP_WAIT)
        if thread.is_alive():
            log.warning("the poller did not stop in %.0f s; leaving it", POLLER_STOP_WAIT)
            worker.release()  # what it was still fetching is due again at the next start
            self.abandoned = True


def worker_app() -> Any:
    """Build the app inside a granian worker, in a process group of its own.

    A terminal's Ctrl-C signals the whole foreground process group; the
    supervisor alone should hear it and stop the workers itself (a worker that
    gets both the SIGINT and the supervisor's SIGTERM can miss its shutdown).
    """
    from feedserver import create_app

    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    # Out of the supervisor's process group, a worker would outlive a supervisor
    # killed outright (SIGKILL, the OOM killer): it stops itself instead.
    threading.Thread(
        target=_stop_with, args=(os.getppid(),), name="feedserver-supervisor-watch", daemon=True
    ).start()
    app = create_app()
    # Everything built so far (modules, the app, its routes and templates) lives
    # as long as the worker: out of the collector's sight, a full collection no
    # longer walks it, which otherwise shows as pauses in the hits' p99.
    gc.collect()
    gc.freeze()
    return app


def _stop_with(supervisor: int, every: float = 1.0) -> None:
    """Stop this worker (as SIGTERM would) once ``supervisor`` is no longer its parent."""
    while os.getppid() == supervisor:
        time.sleep(every)
    log.warning("the supervisor (pid %d) is gone; this worker stops", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)  # granian finishes the requests under way
    time.sleep(WORKER_STOP_WAIT)
    os._exit(1)  # it did not stop in time


def build_server(host: str, port: int, workers: int, threads: int) -> Any:
    """A configured granian server for the feedserver app factory."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    return Granian(
        "feedserver.ops.serve:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_STOP_WAIT,
    )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Web worker processes  [default: one per core]",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Threads per worker running the app.",
)
@click.option(
    "--poller/--no-poller",
    default=None,
    help="Run the poller in this process  [default: FEEDSERVER_RUN_POLLER]",
)
def serve(host: str, port: int, workers: int | None, threads: int, poller: bool | None) -> None:
    """Serve the site with granian workers (and the poller, if on) until stopped."""
    from feedserver.commands import StartError, create_app_for_command
    from feedserver.config import on_off

    if poller is None:
        try:  # read before it is turned off below, so as strictly as the app reads it
            poller = on_off("RUN_POLLER", os.environ.get("FEEDSERVER_RUN_POLLER", ""))
        except ValueError as exc:
            raise StartError(f"Cannot start feedserver: {exc}") from None
    # Workers never poll: the supervisor does, once. Set before any app is
    # built here: the check below started a second poller (and WebSub sender)
    # in this process, and imported prometheus_client before it knew of the
    # shared folder, so this process's poll counts never reached /metrics.
    os.environ["FEEDSERVER_RUN_POLLER"] = "0"
    metrics_dir = _metrics_dir()
    try:
        # What would fail in every worker, after "serving …", with a traceback
        # each: a bad setting (the whole app is built once, so every check
        # runs), an address this machine cannot listen on.
        create_app_for_command()
        host = _listen_address(host, port)
    except BaseException:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        raise
    multiprocessing.set_start_method("spawn", force=True)
    server = build_server(host, port, workers or default_workers(), threads)
    background = PollerThread()
    if poller:
        server.on_startup(background.start)
    server.on_shutdown(background.stop)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    click.echo(
        f"feedserver: serving http://{shown}:{port}/ with {workers or default_workers()} "
        f"worker(s){' and the poller' if poller else ''}; Ctrl-C stops.",
        err=True,
    )
    try:
        server.serve()
    finally:
        background.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if background.abandoned:  # exit now, not when the slowest fetch times out
            logging.shutdown()
            os._exit(0)


def _listen_address(host: str, port: int) -> str:
    """The IP address to listen on for ``host`` (granian takes no names), checked free."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise click.ClickException(f"Cannot listen on {host!r}: {exc}") from None
    family, _, _, _, address = found[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise click.ClickException(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
    return str(address[0])


def _metrics_dir() -> str | None:
    """Give the workers a fresh shared folder for metrics, unless one is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="feedserver-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def register(group: click.Group) -> None:
    """Add the serve command to the feedserver command."""
    group.add_command(serve)
