"""Locate the shipped resources: inside the package once installed, else the repo."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return feedserver/<name> when installed, else <repo>/<name>."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name
