"""What the browser tests share: the Chromium to drive, the admin's credentials, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
USER, PASSWORD = "browser-admin", "a long browser password"


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    return target


def sign_in(page: Any, base: str) -> None:
    """Open an admin page, get sent to the sign-in form, and sign in."""
    page.goto(base + "/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("Name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/admin/")
