"""RFC 9112 §3.2 in the outermost WSGI layer (feedserver.hosts.HostCheck)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import create_environ

from feedserver.hosts import sane_host, valid_host_field


@pytest.fixture
def based(app_config):
    """Links from FEEDSERVER_BASE_URL: the feed itself needs no Host then."""
    app_config["BASE_URL"] = "https://news.example"
    return app_config


def call(app, **environ):
    env = create_environ("/feed.rss")
    for name, value in environ.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app.wsgi_app(env, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize(
    "host",
    [None, "", "a.example, b.example", "a b", "<script>", "x" * 300, "news.example:99999"]
    # Names DNS cannot carry (an empty label, one over 63 octets) or no punycode:
    # the router refused them later, and the error page then failed (a 500).
    + ["a..b", ".", ".example", "a" * 64 + ".example", "a..b:8000", "xn--a.example"],
)
@pytest.mark.parametrize("path", ["/feed.rss", "/"])
def test_http11_without_one_well_formed_host_is_a_400(app, world, host, path):
    env = create_environ(path)
    status, headers, body = call(
        app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1", PATH_INFO=env["PATH_INFO"]
    )
    assert status == "400 Bad Request"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Host header" in body and headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize(
    "host",
    ["localhost", "news.example:8080", "[::1]:8000", "127.0.0.1", "xn--mnchen-3ya.example", "x."],
)
def test_well_formed_hosts_pass(app, world, host):
    status, headers, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1")
    assert status == "200 OK" and body.startswith(b"<?xml")


@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1"])  # granian says "HTTP/1"
@pytest.mark.parametrize("host", [None, ""])  # granian passes "" for a missing Host
def test_http10_may_leave_host_out(based, app, world, protocol, host):
    status, _, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL=protocol)
    assert status == "200 OK" and b"<rss" in body


@pytest.mark.parametrize("path", ["/", "/sections/world", "/api/sections", "/feed.atom"])
@pytest.mark.parametrize("host", ["a_b", "%41", "-a.b", "127.0.0.1:0x"])
def test_without_base_url_a_host_no_link_can_be_built_from_is_a_400_everywhere(
    app, world, auth, host, path
):
    """RFC 3986 allows ``a_b`` as a Host, but links built from it read ``http:/feed.atom``.

    Feeds refused it; pages and the API answered 200 with those links.
    """
    status, headers, body = call(
        app,
        HTTP_HOST=host,
        SERVER_PROTOCOL="HTTP/1.1",
        PATH_INFO=path,
        HTTP_AUTHORIZATION=auth["Authorization"],
    )
    assert status.upper() == "400 BAD REQUEST", body[:300]
    assert b"http:/" not in body and b"Host" in body
    if path.startswith("/api/"):
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["error"]["code"] == "bad_host"


@pytest.mark.parametrize("path", ["/", "/feed.rss", "/api/sections"])
@pytest.mark.parametrize(
    ("server_name", "host"),
    # granian leaves SERVER_NAME empty, so Werkzeug's host was "": links read
    # "http:/". gunicorn passes the address it listens on, and links named it.
    [("", None), ("", ""), ("127.0.0.1", None)],
)
def test_http10_without_host_and_base_url_is_a_400_not_broken_links(
    app, world, auth, server_name, host, path
):
    warm = call(app, HTTP_HOST="127.0.0.1:80", PATH_INFO=path, **auth_env(auth))
    assert warm[0] == "200 OK"  # and a feed's answer is kept in memory now
    status, _, body = call(
        app,
        HTTP_HOST=host,
        SERVER_NAME=server_name,
        SERVER_PORT="80",
        SERVER_PROTOCOL="HTTP/1.0",
        PATH_INFO=path,
        **auth_env(auth),
    )
    assert status.upper() == "400 BAD REQUEST" and b"http:/" not in body
    assert b"127.0.0.1" not in body and b"not a valid host name" in body


def auth_env(auth):
    return {"HTTP_AUTHORIZATION": auth["Authorization"]}


def test_an_api_request_with_a_malformed_host_gets_the_api_error_shape(app, world):
    status, headers, body = call(
        app, HTTP_HOST="a b", SERVER_PROTOCOL="HTTP/1.1", PATH_INFO="/api/sections"
    )
    assert status == "400 Bad Request"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    error = json.loads(body)["error"]
    assert error["code"] == "bad_host" and error["message"].startswith("The request needs")


@pytest.mark.parametrize("method", ["get", "Post", "FOO", "BREW", "QUERY", "X" * 300])
@pytest.mark.parametrize("path", ["/feed.rss", "/", "/api/sections"])
def test_a_method_this_server_does_not_know_is_a_501(app, world, method, path):
    """RFC 9110 §9.1: methods are case-sensitive; §15.6.2: 501 for one not recognized."""
    status, headers, body = call(app, HTTP_HOST="localhost", REQUEST_METHOD=method, PATH_INFO=path)
    assert status == "501 Not Implemented"
    if path.startswith("/api/"):
        assert json.loads(body)["error"]["code"] == "not_implemented"
    else:
        assert b"case-sensitive" in body


def test_known_methods_a_route_does_not_take_are_still_a_405(app, world):
    status, headers, _ = call(app, HTTP_HOST="localhost", REQUEST_METHOD="TRACE")
    assert status.startswith("405") and "GET" in headers["Allow"]


def test_a_head_gets_the_400_without_a_body(app, world):
    status, _, body = call(app, HTTP_HOST="a b", REQUEST_METHOD="HEAD")
    assert status == "400 Bad Request" and body == b""


@pytest.mark.parametrize("host", ["feed_web:8000", "host:", "%41.example"])
def test_hosts_rfc_3986_allows_pass_though_no_dns_name(based, app, world, host):
    """A compose service name is a valid Host (not a cache key: BASE_URL names the site)."""
    status, _, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1")
    assert status == "200 OK" and b"<rss" in body


@given(st.text(max_size=300) | st.from_regex(r"[a-z0-9._-]{1,20}(:[0-9]{1,6})?", fullmatch=True))
def test_any_host_value_is_judged_without_raising(host):
    """Whatever a client writes in Host: a yes or no, and a no for joined or spaced values."""
    ok = valid_host_field(host)
    assert isinstance(ok, bool)
    if ok:
        assert "," not in host and not any(c.isspace() for c in host) and len(host) <= 255
    if sane_host(host):  # the cache-key check is the stricter one
        assert ok


@pytest.fixture
def proxied(app_config):
    app_config["TRUSTED_PROXIES"] = 1
    return app_config


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ({"HTTP_X_FORWARDED_HOST": "news.example", "HTTP_X_FORWARDED_PROTO": "https"}, "200 OK"),
        ({"HTTP_X_FORWARDED_HOST": "a..b"}, "400 Bad Request"),
        ({"HTTP_X_FORWARDED_HOST": "evil example"}, "400 Bad Request"),
        ({"HTTP_X_FORWARDED_PROTO": "javascript"}, "400 Bad Request"),
        ({"HTTP_X_FORWARDED_PROTO": "ftp"}, "400 Bad Request"),
        # Schemes are case-insensitive (RFC 3986 §3.1): links come out in lower case.
        ({"HTTP_X_FORWARDED_HOST": "news.example", "HTTP_X_FORWARDED_PROTO": "HTTPS"}, "200 OK"),
    ],
)
@pytest.mark.parametrize("path", ["/feed.rss", "/"])
def test_what_a_trusted_proxy_forwards_is_checked_too(proxied, app, world, forwarded, status, path):
    """X-Forwarded-Host and -Proto are the client's to write, through the proxy."""
    got, headers, body = call(
        app, HTTP_HOST="proxy.internal", SERVER_PROTOCOL="HTTP/1.1", PATH_INFO=path, **forwarded
    )
    assert got == status
    if status == "200 OK":
        assert b"https://news.example/" in body  # links from what the proxy forwarded
    else:
        assert b"X-Forwarded" in body and b"javascript:" not in body


def test_an_error_page_that_cannot_render_is_still_a_clean_answer(app, monkeypatch):
    from feedserver import errors

    def broken(*_args, **_kw):
        raise AttributeError("no URL adapter")

    monkeypatch.setattr(errors, "render_template", broken)
    with app.test_request_context("/nowhere"):
        response = errors.error_response(400, "bad_request", "Bad <Host>")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert b"Error 400" in response.data and b"Bad &lt;Host&gt;" in response.data


def test_the_asterisk_target_is_for_options_only(app, world):
    """RFC 9110 §9.3.7 and RFC 9112 §3.2.4: ``OPTIONS *`` asks about the server as a whole."""
    status, headers, body = call(
        app, HTTP_HOST="localhost", REQUEST_METHOD="OPTIONS", PATH_INFO="*"
    )
    assert status == "200 OK" and body == b""
    assert set(headers["Allow"].split(", ")) >= {"GET", "HEAD", "POST", "OPTIONS"}
    status, _, body = call(app, HTTP_HOST="localhost", REQUEST_METHOD="GET", PATH_INFO="*")
    assert status == "400 Bad Request" and b"OPTIONS only" in body
    for host in (None, "a b", "a.example, b.example"):  # RFC 9112 §3.2 first, * or not
        status, _, body = call(
            app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD="OPTIONS", PATH_INFO="*"
        )
        assert status == "400 Bad Request" and b"Host header" in body, host
