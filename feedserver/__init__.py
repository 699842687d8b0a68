"""feedserver: a syndication feed server for a news site.

``create_app`` builds the Flask application; ``feeds`` (a sibling package) is
the syndication core it publishes and aggregates with. ``create_cli_app``
builds the small application the ``feedserver`` commands that need only the
settings and the database run in (``poll --once``, ``sources``, ``users``…):
none of the web's blueprints, templates, forms or feed rendering are imported,
so such a command starts in a fraction of the time.

Importing this package loads neither Flask nor the models: the poller and the
benchmarks import what they use and nothing else
(tests/feedserver/test_startup.py keeps it so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from feedserver.config import instance_path_from_env, load_settings
from feedserver.paths import resource_dir

if TYPE_CHECKING:  # importing the package (the poller does) must not load Flask
    from flask import Flask

__version__ = "0.1.0"


def _bare_app(config: dict[str, Any] | None) -> Flask:
    """A Flask object with every setting loaded, and nothing registered yet."""
    from flask import Flask

    app = Flask(
        __name__,
        instance_path=str(instance_path_from_env()),
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
    )
    load_settings(app, config)
    return app


def create_cli_app(config: dict[str, Any] | None = None) -> Flask:
    """The application of a command that needs only the settings and the database.

    The same settings (environment, ``feedserver.cfg``, ``config``) and the
    same database set-up as :func:`create_app`, and the same logging; no
    blueprints, error pages, fast path or metrics layer (it serves no
    request), and never the in-process poller, whatever ``RUN_POLLER`` says
    (the command does the work itself).
    """
    from feedserver import db
    from feedserver.ops import logs

    app = _bare_app(config)
    logs.init_app(app)
    db.init_app(app)
    return app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the application: settings, database, blueprints, error pages."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = _bare_app(config)

    from feedserver import admin, api, cli, db, errors, hosts, ops, security
    from feedserver.aggregation import websub_callback
    from feedserver.comments import views as comments
    from feedserver.ops import metrics
    from feedserver.publishing import audience, fastpath, websub
    from feedserver.publishing import views as publishing
    from feedserver.site import views as site
    from feedserver.web import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route: each <int:…> is an id
    ops.init_app(app)  # logging first, then /healthz, /readyz, /metrics
    db.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    publishing.init_app(app)
    websub.init_app(app)
    site.init_app(app)
    comments.init_app(app)
    websub_callback.init_app(app)  # the WebSub subscriber's callback
    api.init_app(app)
    admin.init_app(app)
    cli.init_app(app)
    audience.init_app(app)  # stats: counts every feed request; polite polling
    requests = metrics.wrap(app)  # request ids and counts
    # In front of them all: feed hits and 304s answered in one frame, doing the
    # audience's and the request layer's part for them.
    fastpath.init_app(app, audience=audience.layer_of(app), requests=requests)
    if app.config["TRUSTED_PROXIES"]:
        # Outermost, so the fast path and Flask both see the client's address and scheme.
        hops = app.config["TRUSTED_PROXIES"]
        forwarded = hosts.HostCheck(app.wsgi_app)  # what the proxy forwarded, checked too
        app.wsgi_app = ProxyFix(forwarded, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]  # wrapping wsgi_app is Flask's documented way to add middleware
    # Outermost of all: the Host as the client sent it (RFC 9112 §3.2).
    app.wsgi_app = hosts.HostCheck(app.wsgi_app)  # type: ignore[method-assign]
    if app.config["RUN_POLLER"]:
        from feedserver.aggregation import worker

        if worker.start_in_process(app) is not None:
            websub.start_deliverer(app)  # the hub's sender runs beside the poller
    return app
