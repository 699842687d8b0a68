"""Sign-in, sign-out, lock-out, safe redirects, cookie flags, CSRF and headers of the admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedserver import accounts
from feedserver.admin.auth import IP_FREE_FAILURES, REFUSED, safe_next
from feedserver.models import Section, User
from tests.factories import make_section
from tests.feedserver.admin_support import (
    PASSWORD,
    USER,
    csrf_token,
    make_user,
    sign_in,
)


def test_sign_in_page_is_a_form(client):
    response = client.get("/admin/login")
    assert response.status_code == 200
    assert 'name="password"' in response.text
    assert 'type="password"' in response.text
    assert "Admin" in response.text


def test_sign_in_and_reach_the_dashboard(client, db):
    make_user(db)
    response = sign_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Dashboard" in page.text
    assert f"Signed in as <strong>{USER}</strong>" in page.text
    assert "You are signed in" in page.text  # the flash message
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        assert user.last_login_at is not None


def test_session_cookie_flags(client, db):
    make_user(db)
    response = sign_in(client)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in tests; see the next test


def test_session_cookie_secure_when_configured(app_config, monkeypatch, tmp_path, db_backend):
    from feedserver import create_app

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance2"))
    monkeypatch.setenv("FEEDSERVER_SESSION_COOKIE_SECURE", "true")
    app = create_app(app_config)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    from feedserver.db import get_db

    db = get_db(app)
    make_user(db)
    response = sign_in(app.test_client())
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie
    db.engine.dispose()


@pytest.mark.parametrize("name", [USER, "nobody-by-that-name"])
def test_wrong_password_says_the_same_whoever_asks(client, db, name):
    make_user(db)
    response = sign_in(client, name=name, password="not the password")
    assert response.status_code == 422
    assert REFUSED in response.text
    assert "not the password" not in response.text  # never echoed back
    assert client.get("/admin/").status_code == 302


def test_lock_out_after_repeated_failures(client, db):
    make_user(db)
    for n in range(accounts.MAX_FAILED_LOGINS):
        # A new address each time, so only the account's own lock-out is at work.
        r = sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
        assert r.status_code == 422
    # Locked to the addresses that failed: even the right password is refused there …
    refused = sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.3"})
    assert refused.status_code == 422
    assert REFUSED in refused.text
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        assert user.locked_until is not None
    # … but not to an address with no recent failure: ten wrong passwords from
    # anywhere must not lock the admin out of their own site.
    assert sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.201"}).status_code == 302
    client.post("/admin/logout", data={})
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        user.locked_until = None  # the lock expires …
    assert sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 302


def test_slow_down_per_address(client, db):
    make_user(db)
    for _ in range(IP_FREE_FAILURES):
        assert sign_in(client, name="someone", password="wrong").status_code == 422
    slowed = sign_in(client)  # even the right password waits its turn
    assert slowed.status_code == 429
    assert int(slowed.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in slowed.text
    other = sign_in(client, environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert other.status_code == 302


def test_blank_and_oversized_credentials(client, db):
    make_user(db)
    assert sign_in(client, name="", password="").status_code == 422
    response = sign_in(client, name="x" * 5000, password="y" * 5000)
    assert response.status_code == 422
    assert "x" * 5000 not in response.text or "maxlength" in response.text


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/admin/articles/", "/admin/articles/"),
        ("/admin/sources/?health=failing", "/admin/sources/?health=failing"),
        ("//evil.example/", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
        ("/admin/\r\nSet-Cookie:x=1", "/admin/"),
        ("", "/admin/"),
    ],
)
def test_redirect_after_sign_in_stays_on_the_site(client, db, target, expected):
    make_user(db)
    response = sign_in(client, query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_visit_remembers_where_it_was_going(client, db):
    response = client.get("/admin/articles/?q=moon")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")
    make_user(db)
    landed = sign_in(client, query_string={"next": "/admin/articles/?q=moon"})
    assert landed.headers["Location"] == "/admin/articles/?q=moon"


def test_safe_next_helper():
    assert safe_next("/admin/") == "/admin/"
    for bad in (None, "", "admin/", "//x", "/\\x", "http://x/", "/a b", "/" + "a" * 3000):
        assert safe_next(bad) is None


def test_sign_out_then_refused(admin):
    assert admin.get("/admin/").status_code == 200
    response = admin.post("/admin/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"
    assert "You are signed out" in admin.get("/admin/login").text
    assert admin.get("/admin/").status_code == 302
    assert admin.get("/admin/logout").status_code == 405  # only POST signs out


def test_a_copy_of_the_cookie_is_refused_after_sign_out(admin, app, db):
    """Signing out ends the session itself, not only this browser's cookie."""
    copied = admin.get_cookie("session")
    assert copied is not None
    other = app.test_client()  # another browser holding a copy of the cookie
    other.set_cookie("session", copied.value)
    assert other.get("/admin/").status_code == 200
    assert admin.post("/admin/logout").status_code == 302
    refused = other.get("/admin/")
    assert refused.status_code == 302 and "/admin/login" in refused.headers["Location"]
    assert sign_in(admin).status_code == 302  # signing in again works
    assert admin.get("/admin/").status_code == 200


def test_password_change_ends_other_sessions(admin, db):
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        accounts.set_password(s, user, "a brand new password")
    response = admin.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_already_signed_in_skips_the_form(admin):
    response = admin.get("/admin/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


# --- CSRF ----------------------------------------------------------------------------


@pytest.fixture
def csrf_on(app):
    """Turn Flask-WTF's CSRF check on (the test config turns it off)."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_sign_in_without_csrf_token_is_refused(csrf_on, client, db):
    make_user(db)
    response = sign_in(client)
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert client.get("/admin/").status_code == 302


def test_sign_in_with_csrf_token_works(csrf_on, client, db):
    make_user(db)
    token = csrf_token(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"name": USER, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_forged_post_changes_nothing(csrf_on, client, db):
    make_user(db)
    token = csrf_token(client.get("/admin/login").text)
    client.post("/admin/login", data={"name": USER, "password": PASSWORD, "csrf_token": token})
    with db.session() as s:
        section_id = make_section(s, name="Keep me").id
    for token_value in (None, "forged-token", token + "x"):
        data = {} if token_value is None else {"csrf_token": token_value}
        response = client.post(f"/admin/sections/{section_id}/delete", data=data)
        assert response.status_code == 400
        created = client.post("/admin/sections/new", data={**data, "name": "Forged"})
        assert created.status_code == 400
    with db.session() as s:
        assert s.get(Section, section_id) is not None
        assert s.scalar(select(Section).where(Section.name == "Forged")) is None
    # Signing out is a form too: a cross-site page cannot sign the user out.
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200


def test_every_admin_form_carries_a_csrf_token(csrf_on, client, db):
    make_user(db)
    token = csrf_token(client.get("/admin/login").text)
    client.post("/admin/login", data={"name": USER, "password": PASSWORD, "csrf_token": token})
    with db.session() as s:
        make_section(s)
    for path in (
        "/admin/",
        "/admin/sections/",
        "/admin/sections/new",
        "/admin/authors/new",
        "/admin/articles/new",
        "/admin/sources/",
        "/admin/tokens/",
    ):
        html = client.get(path).text
        forms = html.count("<form")
        post_forms = html.count('method="post"')
        assert post_forms >= 1, path
        assert html.count('name="csrf_token"') >= post_forms, path
        assert forms >= post_forms


# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/login", "/admin/", "/admin/articles/", "/admin/nope"])
def test_security_headers_on_admin_pages(admin, path):
    response = admin.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    if path != "/admin/nope":
        assert response.headers["Cache-Control"] == "no-store"


def test_a_locked_account_takes_only_a_few_guesses_from_new_addresses(client, db):
    """Changing address every try must not make the lock a sieve (regression audit)."""
    make_user(db)
    for n in range(accounts.MAX_FAILED_LOGINS):
        sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
    for n in range(accounts.FRESH_TRIES_WHILE_LOCKED):  # each a new address, each checked
        r = sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
        assert r.status_code == 422
    # Past those, even the right password from yet another address waits out the lock.
    late = sign_in(client, environ_base={"REMOTE_ADDR": "203.0.113.250"})
    assert late.status_code == 422 and REFUSED in late.text
    with db.session() as s:
        s.scalar(select(User).where(User.name == USER)).locked_until = None
    assert sign_in(client, environ_base={"REMOTE_ADDR": "203.0.113.251"}).status_code == 302


def test_a_lock_that_ended_starts_the_count_again(client, db):
    # The fresh addresses' tries during a lock must not shorten the next one.
    from datetime import timedelta

    from feedserver.models import utcnow

    make_user(db)
    for n in range(accounts.MAX_FAILED_LOGINS):
        sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
    for n in range(accounts.FRESH_TRIES_WHILE_LOCKED):
        sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
    with db.session() as s:
        s.scalar(select(User).where(User.name == USER)).locked_until = utcnow() - timedelta(
            seconds=1
        )  # the lock has ended
    # A full MAX_FAILED_LOGINS failures again before the next lock.
    for n in range(accounts.MAX_FAILED_LOGINS - 1):
        sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        assert user.failed_logins == accounts.MAX_FAILED_LOGINS - 1 and user.locked_until is None
    assert sign_in(client, environ_base={"REMOTE_ADDR": "192.0.2.200"}).status_code == 302


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one client
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("192.0.2.7", "192.0.2.8", False),
        ("fe80::1%eth0", "fe80::2", True),
    ],
)
def test_sign_in_failures_count_per_client_not_per_ipv6_address(app, one, other, same):
    from feedserver.admin.auth import address_hash

    with app.app_context():
        assert (address_hash(one) == address_hash(other)) is same


def test_changing_ipv6_address_within_a_64_does_not_escape_the_slow_down(client, db):
    make_user(db)
    for n in range(IP_FREE_FAILURES):
        r = sign_in(
            client, password="wrong", environ_base={"REMOTE_ADDR": f"2001:db8:5:6::{n + 1:x}"}
        )
        assert r.status_code == 422
    slowed = sign_in(client, environ_base={"REMOTE_ADDR": "2001:db8:5:6::beef"})
    assert slowed.status_code == 429
