"""RFC 9112 §3.2 in the outermost WSGI layer (feedserver.hosts.HostCheck)."""

from __future__ import annotations

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
    [None, "", "a.example, b.example", "a b", "<script>", "x" * 300, "news.example:99999"],
)
def test_http11_without_one_well_formed_host_is_a_400(app, world, host):
    status, headers, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1")
    assert status == "400 Bad Request"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Host header" in body and headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("host", ["localhost", "news.example:8080", "[::1]:8000", "127.0.0.1"])
def test_well_formed_hosts_pass(app, world, host):
    status, headers, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL="HTTP/1.1")
    assert status == "200 OK" and body.startswith(b"<?xml")


@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1"])  # granian says "HTTP/1"
@pytest.mark.parametrize("host", [None, ""])  # granian passes "" for a missing Host
def test_http10_may_leave_host_out(based, app, world, protocol, host):
    status, _, body = call(app, HTTP_HOST=host, SERVER_PROTOCOL=protocol)
    assert status == "200 OK" and b"<rss" in body


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
