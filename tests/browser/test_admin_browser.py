"""The admin in a real browser: sign in, add and refresh a source, write an article, import
OPML, revoke a token, sign out — with a screenshot of each admin page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.browser_support import shot, sign_in
from tests.feedserver.admin_support import opml_document, rss_feed

pytestmark = pytest.mark.browser

RSS = "application/rss+xml"


def _flash(page) -> str:
    return page.locator(".flashes").inner_text()


def test_admin_journey(page, live_app, httpserver, tmp_path: Path):
    base = page.base_url
    httpserver.expect_request("/upstream.xml").respond_with_data(
        rss_feed("Upstream Daily", [("u1", "Harbour reopens"), ("u2", "Bridge repaired")]),
        content_type=RSS,
    )

    # Sign in: an admin page sends us to the form first.
    page.goto(base + "/admin/login")
    shot(page, "01-login")
    page.get_by_label("Name").fill("browser-admin")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "Sign-in failed" in page.locator(".form-errors").inner_text()
    sign_in(page, base)
    assert "signed in" in _flash(page)

    # A section and an author with a bio.
    page.goto(base + "/admin/sections/new")
    page.get_by_label("Name").fill("World")
    page.get_by_label("Description").fill("News from everywhere.")
    shot(page, "02-section-form")
    page.get_by_role("button", name="Save section").click()
    assert "The section “World” was created." in _flash(page)
    shot(page, "03-sections")
    page.goto(base + "/admin/authors/new")
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Bio").fill("Ada writes about engines and numbers.")
    page.get_by_role("button", name="Save author").click()
    page.goto(base + "/admin/authors/new")
    page.get_by_label("Name").fill("Bo Chen")
    page.get_by_role("button", name="Save author").click()
    assert "Bo Chen" in page.locator("table").inner_text()
    shot(page, "04-authors")

    # Add a source served by the local upstream and see its health.
    page.goto(base + "/admin/sources/")
    page.get_by_label("Feed or web page address").fill(
        httpserver.url_for("/upstream.xml").replace("localhost", "127.0.0.1")
    )
    page.locator("#add-source").get_by_label("Section").select_option(label="World")
    page.get_by_role("button", name="Add source").click()
    assert "was added with 2 entries" in _flash(page)
    assert page.locator(".status-ok").first.is_visible()
    shot(page, "05-source-detail")
    page.goto(base + "/admin/sources/")
    row = page.locator("tr", has_text="Upstream Daily")
    assert "OK" in row.inner_text() and "200" in row.inner_text()
    shot(page, "06-sources")

    # Refresh it after the upstream gained an entry: the page says what came back.
    httpserver.clear()
    httpserver.expect_request("/upstream.xml").respond_with_data(
        rss_feed(
            "Upstream Daily",
            [("u1", "Harbour reopens"), ("u2", "Bridge repaired"), ("u3", "Tram line extended")],
        ),
        content_type=RSS,
    )
    row.get_by_role("button", name="Refresh now").click()
    outcome = page.locator(".refresh-outcome").inner_text()
    assert "What came back" in outcome.upper().title() or "WHAT CAME BACK" in outcome.upper()
    assert "1 new, 0 changed" in _flash(page)
    shot(page, "07-source-refreshed")

    # Its entries are in the public feeds.
    site_feed = page.request.get(base + "/feed.rss").text()
    for title in ("Harbour reopens", "Bridge repaired", "Tram line extended"):
        assert title in site_feed
    assert "Tram line extended" in page.request.get(base + "/sections/world/feed.atom").text()

    # Write an article with two authors, preview it, save it, then edit it.
    page.goto(base + "/admin/articles/new")
    page.get_by_label("Title").fill("Council approves new park")
    page.get_by_label("Summary").fill("A green space for the old docks.")
    page.get_by_label("Body (HTML)").fill(
        "<p>The park opens in <em>spring</em>.</p><script>alert('x')</script>"
    )
    page.get_by_label("Section", exact=True).select_option(label="World")
    page.get_by_label("Author 1").select_option(label="Bo Chen")
    page.get_by_label("Author 2").select_option(label="Ada Lovelace")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator(".preview")
    assert "The park opens in spring." in preview.inner_text()
    assert "alert" not in preview.inner_html()
    shot(page, "08-article-preview")
    page.get_by_role("button", name="Save article").click()
    assert "was published" in _flash(page)
    page.get_by_label("Title").fill("Council approves new harbour park")
    page.get_by_role("button", name="Save article").click()
    assert "“Council approves new harbour park” was saved" in _flash(page)
    shot(page, "09-article-edit")
    public = page.request.get(base + "/articles/council-approves-new-park").text()
    assert "Council approves new harbour park" in public
    assert "alert(" not in public
    assert "Bo Chen and Ada Lovelace" in page.request.get(base + "/feed.rss").text()

    page.goto(base + "/admin/articles/")
    page.get_by_role("searchbox", name="Search").fill("harbour")
    page.get_by_role("button", name="Filter").click()
    assert "2 articles match" in page.locator("main").inner_text()
    shot(page, "10-articles")

    # Import an OPML file: one new feed, one already there, one refused.
    opml = tmp_path / "subscriptions.opml"
    known = httpserver.url_for("/upstream.xml").replace("localhost", "127.0.0.1")
    opml.write_bytes(
        opml_document("https://feeds.example.org/new.xml", known, "http://10.0.0.7/x.xml")
    )
    page.goto(base + "/admin/sources/")
    page.get_by_label("OPML file").set_input_files(str(opml))
    page.get_by_role("button", name="Import").click()
    summary = page.locator(".import-summary").inner_text()
    assert "1 added, 1 skipped, 1 refused" in summary
    shot(page, "11-opml-import")

    # Create an API token, use it, revoke it.
    page.goto(base + "/admin/tokens/")
    page.get_by_label("Label").fill("CMS sync")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("fs_")
    auth = {"Authorization": f"Bearer {token}"}
    assert page.request.get(base + "/api/sections", headers=auth).status == 200
    shot(page, "12-tokens")
    page.locator("tr", has_text="CMS sync").get_by_role("button", name="Revoke").click()
    assert "was revoked" in _flash(page)
    assert page.request.get(base + "/api/sections", headers=auth).status == 401

    page.goto(base + "/admin/comments/")
    shot(page, "13-comments")
    page.goto(base + "/admin/")
    assert page.locator(".health-ok dd").inner_text() == "1"
    shot(page, "14-dashboard")

    # Sign out, and be refused.
    page.get_by_role("button", name="Sign out").click()
    assert "You are signed out" in _flash(page)
    page.goto(base + "/admin/articles/")
    assert "/admin/login" in page.url
    assert "Please sign in" in _flash(page)


@pytest.mark.parametrize("width, height, label", [(1280, 900, "desktop"), (390, 844, "mobile")])
def test_admin_pages_at_two_widths(browser, live_app, width, height, label):
    """Screenshot the main admin pages at desktop and phone widths; nothing overflows."""
    base = live_app[1]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base)
    for name, path in [
        ("dashboard", "/admin/"),
        ("sources", "/admin/sources/"),
        ("articles", "/admin/articles/"),
        ("article-new", "/admin/articles/new"),
        ("sections", "/admin/sections/"),
        ("tokens", "/admin/tokens/"),
    ]:
        page.goto(base + path)
        shot(page, f"{label}-{name}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
    context.close()
    assert not errors, errors
