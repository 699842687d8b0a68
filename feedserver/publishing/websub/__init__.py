"""Our WebSub hub (https://www.w3.org/TR/websub/): endpoint, verification, distribution.

- :mod:`.topics`: which ``hub.topic`` URLs are feeds of this site;
- :mod:`.endpoint`: ``POST /websub`` (subscribe/unsubscribe requests, 202);
- :mod:`.store`: the rows — intents, the delivery queue, claiming, outcomes;
- :mod:`.deliver`: the sender thread of the poller processes (verification of
  intent, content distribution, external-hub pings);
- :mod:`.pings`: the topics of a scope, for pinging an external hub.

The advertisement (Link headers, ``atom:link rel="hub"``, JSON Feed ``hubs``)
is in :mod:`feedserver.publishing.views`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

EXTENSION = "feedserver.publishing.websub.deliverer"


def init_app(app: Flask) -> None:
    """Register the hub endpoint."""
    from feedserver.publishing.websub import endpoint

    endpoint.init_app(app)


def start_deliverer(app: Flask, *, startup_delay: float = 2.0) -> threading.Event:
    """Run the hub's sender as a thread of this (poller) process, once per app.

    Everything, the set-up included, happens in the thread, so the caller (the
    worker command, the serve supervisor) goes on at once. Returns the event
    that stops it.
    """
    found: threading.Event | None = app.extensions.get(EXTENSION)
    if found is not None and not found.is_set():
        return found
    stop = threading.Event()
    app.extensions[EXTENSION] = stop

    def run() -> None:
        from feedserver.aggregation.poller import sqlite_lock
        from feedserver.db import get_db
        from feedserver.publishing.websub.deliver import Deliverer, HubSettings, app_renderer

        db = get_db(app)
        deliverer = Deliverer(
            db, HubSettings.from_config(app.config), app_renderer(app), lock=sqlite_lock(db)
        )
        deliverer.stop_event = stop
        deliverer.run(startup_delay)

    threading.Thread(target=run, name="feedserver-websub", daemon=True).start()
    return stop


def stop_deliverer(app: Flask) -> None:
    """Stop this process's sender thread, if any."""
    stop: threading.Event | None = app.extensions.pop(EXTENSION, None)
    if stop is not None:
        stop.set()
