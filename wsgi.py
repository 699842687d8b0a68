"""The WSGI entry point: ``gunicorn wsgi:app``."""

from feedserver import create_app

app = create_app()
