"""The audience layer alone, around a stand-in app: any request in, no exception out."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feedserver.publishing.audience import AudienceLayer
from feedserver.publishing.polite import PolitePolicy
from feedserver.publishing.tally import Tally

BODY = b"<feed/>"


def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    headers = [
        ("Content-Type", "application/atom+xml"),
        ("Content-Length", str(len(BODY))),
        ("ETag", '"v1"'),
        ("Cache-Control", environ.get("HTTP_X_CC", "public, max-age=300")),
    ]
    if environ.get("HTTP_IF_NONE_MATCH") == '"v1"':
        start_response("304 NOT MODIFIED", headers[2:])
        return []
    start_response("200 OK", headers)
    return [BODY]


def layer() -> AudienceLayer:
    tally = Tally(db=None, secret="s", flush_seconds=0)  # type: ignore[arg-type]
    return AudienceLayer(inner, tally, counting=True, polite=PolitePolicy())


def call(app: AudienceLayer, environ: dict[str, Any]) -> tuple[str, bytes]:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(status)
        return lambda _data: None

    body = b"".join(app(environ, start_response))
    return seen[-1], body


text = st.text(max_size=300)


@settings(max_examples=300, deadline=None)
@given(
    path=st.one_of(
        text, st.sampled_from(["/feed.atom", "/sections/x/feed.rss", "/articles/a/comments.atom"])
    ),
    agent=text,
    address=text,
    query=text,
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
    cache_control=st.one_of(text, st.just("public, max-age=300")),
    conditional=st.booleans(),
)
def test_any_request_passes_or_is_counted(
    path, agent, address, query, method, cache_control, conditional
):
    app = layer()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_USER_AGENT": agent,
        "REMOTE_ADDR": address,
        "HTTP_X_CC": cache_control,
    }
    if conditional:
        environ["HTTP_IF_NONE_MATCH"] = '"v1"'
    for _ in range(5):
        status, body = call(app, dict(environ))
        assert status[:3] in ("200", "304", "429")
        if status.startswith("429"):
            assert not conditional and b"Retry-After" in body
    counted = sum(v[0] for v in app.tally._batch.traffic.values())
    assert counted in (0, 5)
    if app.feed_path(path) is not None and method in ("GET", "HEAD"):
        assert counted == 5


def test_a_429_replaces_the_answer_before_anything_is_sent():
    app = layer()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/feed.atom", "REMOTE_ADDR": "a"}
    assert [call(app, dict(environ))[0][:3] for _ in range(4)] == ["200", "200", "200", "429"]
    status, body = call(app, dict(environ))
    assert status.startswith("429") and body.startswith(b"429 Too Many Requests")
    assert call(app, {**environ, "HTTP_IF_NONE_MATCH": '"v1"'})[0].startswith("304")
