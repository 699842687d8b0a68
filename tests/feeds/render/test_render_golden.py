"""Byte-for-byte golden files of the sample page in each format.

Regenerate after an intended change with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/feeds/render/test_render_golden.py``
and review the diff: every changed byte is a change subscribers will see.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from feeds.model import Feed, Rendered
from feeds.render import render_atom, render_json, render_rss

GOLDEN = Path(__file__).parents[2] / "data" / "golden"
RENDERERS: dict[str, Callable[[Feed], Rendered]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


@pytest.mark.parametrize("fmt", RENDERERS)
def test_matches_golden_file(fmt: str, page: Callable[[str], Feed]) -> None:
    body = RENDERERS[fmt](page(fmt)).body
    path = GOLDEN / f"world_page2.{fmt}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(body)
    expected = path.read_bytes()
    # Compare as text first for a readable diff, then as bytes.
    assert body.decode("utf-8") == expected.decode("utf-8")
    assert body == expected


@pytest.mark.parametrize("fmt", RENDERERS)
def test_same_feed_gives_same_bytes(fmt: str, page: Callable[[str], Feed]) -> None:
    render = RENDERERS[fmt]
    first = render(page(fmt)).body
    assert all(render(page(fmt)).body == first for _ in range(3))
