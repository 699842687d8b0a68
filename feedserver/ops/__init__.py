"""Operations: the production server, health checks, metrics and logs.

serve (``feedserver serve``: granian workers + the poller) · health
(``/healthz``, ``/readyz``) · metrics (``/metrics``, Prometheus text format,
multi-process) · logs (text or JSON lines, request ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Add the health and metrics endpoints and the request-id/metrics layer."""
    from feedserver.ops import health, logs, metrics

    logs.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
