"""The WSGI entry point: ``gunicorn wsgi:app``."""

import sys

from feedserver import create_app

try:
    app = create_app()
except ValueError as exc:
    # A setting that is not of its kind: one line naming it, as `feedserver`
    # commands say it, not a traceback per worker. Status 3 is gunicorn's
    # "worker failed to boot": it stops the server rather than start another.
    print(f"Cannot start feedserver: {exc}", file=sys.stderr)
    raise SystemExit(3) from None
