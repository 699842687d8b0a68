"""Placeholder: the command line."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the commands."""


def main() -> None:
    """Run the feedserver command."""
