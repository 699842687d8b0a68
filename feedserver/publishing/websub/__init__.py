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

    from feedserver.publishing.websub.deliver import Deliverer

EXTENSION = "feedserver.publishing.websub.deliverer"


def init_app(app: Flask) -> None:
    """Register the hub endpoint."""
    from feedserver.publishing.websub import endpoint

    endpoint.init_app(app)


def start_deliverer(app: Flask, *, startup_delay: float = 2.0) -> Deliverer:
    """Run the hub's sender as a thread of this (poller) process, once per app."""
    found: Deliverer | None = app.extensions.get(EXTENSION)
    if found is not None and not found.stop_event.is_set():
        return found
    from feedserver.aggregation.poller import sqlite_lock
    from feedserver.db import get_db
    from feedserver.publishing.websub.deliver import Deliverer, HubSettings, app_renderer

    db = get_db(app)
    deliverer = Deliverer(
        db, HubSettings.from_config(app.config), app_renderer(app), lock=sqlite_lock(db)
    )
    app.extensions[EXTENSION] = deliverer
    threading.Thread(
        target=deliverer.run, args=(startup_delay,), name="feedserver-websub", daemon=True
    ).start()
    return deliverer


def stop_deliverer(app: Flask) -> None:
    """Stop this process's sender thread, if any."""
    deliverer: Deliverer | None = app.extensions.pop(EXTENSION, None)
    if deliverer is not None:
        deliverer.stop()
