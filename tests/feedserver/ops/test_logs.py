"""Logs: JSON lines with the request id, text otherwise, bad settings refused."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedserver import create_app
from feedserver.ops.logs import REQUEST_ID, JsonFormatter, RequestIdFilter, _subjects


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("feedserver.test").makeRecord(
        "feedserver.test", logging.WARNING, __file__, 1, message, (), None, extra=extra
    )
    RequestIdFilter().filter(record)
    return record


def test_json_line_carries_request_id_and_subject():
    token = REQUEST_ID.set("req-42")
    try:
        line = JsonFormatter().format(_record("refresh failed: %s", source_id=7))
    finally:
        REQUEST_ID.reset(token)
    out = json.loads(line)
    assert out["message"] == "refresh failed: %s"
    assert out["request_id"] == "req-42"
    assert out["source_id"] == 7
    assert out["level"] == "WARNING"
    assert out["logger"] == "feedserver.test"
    assert out["time"].endswith("+00:00")


def test_the_subjects_a_message_names_are_fields_too():
    """README: the subject's id is a field; the modules write it into the message."""
    record = logging.getLogger("feedserver.test").makeRecord(
        "feedserver.test", logging.INFO, __file__, 1,
        "refreshed source_id=%s status=%s added=%d article_id=%s", (4, 200, 3, "12"), None,
    )  # fmt: skip
    out = json.loads(JsonFormatter().format(record))
    assert out["source_id"] == 4 and out["article_id"] == 12
    assert "status" not in out and "added" not in out  # only ids
    named = json.loads(JsonFormatter().format(_record("moved source_id=%s", source_id=3)))
    assert named["source_id"] == 3  # one passed as extra wins
    # What the template quotes is not the module's to name: an upstream's URL.
    quoted = logging.getLogger("feedserver.test").makeRecord(
        "feedserver.test", logging.WARNING, __file__, 1, "refresh failed source_id=%s: %s",
        (14, "fetch http://x.example/f?article_id=77&request_id=5: HTTP 404"), None,
    )  # fmt: skip
    fields = json.loads(JsonFormatter().format(quoted))
    assert fields["source_id"] == 14 and "article_id" not in fields and "request_id" not in fields
    literal = logging.getLogger("feedserver.test").makeRecord(
        "feedserver.test", logging.INFO, __file__, 1, "100%% done article_id=7 source_id=%d", (5,), None
    )  # fmt: skip
    assert json.loads(JsonFormatter().format(literal))["source_id"] == 5


def test_json_line_outside_a_request_has_no_request_id():
    out = json.loads(JsonFormatter().format(_record("poll pass")))
    assert "request_id" not in out


def test_a_request_logs_with_the_id_it_answers_with(app, client, caplog):
    caplog.handler.addFilter(RequestIdFilter())

    @app.get("/_log_probe")
    def probe() -> str:
        logging.getLogger("feedserver.test").warning("probe %s", "ran", extra={"article_id": 3})
        return "ok"

    with caplog.at_level(logging.WARNING, logger="feedserver.test"):
        response = client.get("/_log_probe", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    record = next(r for r in caplog.records if r.getMessage() == "probe ran")
    assert record.request_id == "abc-123"
    assert json.loads(JsonFormatter().format(record))["article_id"] == 3


def test_unknown_log_format_is_refused(app_config, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="FEEDSERVER_LOG_FORMAT: 'xml'"):
        create_app({**app_config, "LOG_FORMAT": "xml"})


def test_a_failed_statement_never_shows_its_parameters(db):
    # A comment's insert that fails (its article deleted meanwhile) is logged
    # with its traceback by whatever meets it: the e-mail must not be in it.
    import traceback

    from sqlalchemy import exc

    from feedserver.models import Comment, utcnow

    secret = "never.published@example.net"
    with pytest.raises(exc.IntegrityError) as failed, db.session() as session:
        now = utcnow()
        session.add(
            Comment(
                article_id=987654,
                author_name="Reader",
                author_email=secret,
                body="A comment whose article is gone",
                status="pending",
                ip_hash="0" * 64,
                content_hash="1" * 64,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
    logged = "".join(traceback.format_exception(failed.value))
    assert "INSERT INTO comments" in logged  # the statement is named…
    assert (
        secret not in logged and "A comment whose article is gone" not in logged
    )  # …not its values


def test_request_urls_of_http_libraries_stay_out_of_the_log():
    # httpx logs each request's whole URL at INFO: a subscriber's callback or
    # an upstream's URL may carry a token, and verifications their challenge.
    import logging

    from feedserver.ops.logs import configure

    logging.getLogger("httpx").setLevel(logging.NOTSET)
    configure()
    assert logging.getLogger("httpx").level == logging.WARNING
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)


@pytest.mark.fuzz
@given(
    template=st.text(alphabet=st.sampled_from(list("ab_id=%sdx %.05")), max_size=40),
    args=st.lists(
        st.one_of(st.integers(), st.text(max_size=8), st.none(), st.booleans()), max_size=6
    ),
)
def test_subject_fields_come_only_from_the_templates_own_slots(template, args):
    """A hostile template or argument never breaks a log line; a field is an int the
    template names as "…_id=%s" or "…_id=%d", never something an argument says."""
    record = logging.getLogger("feedserver.test").makeRecord(
        "feedserver.test", logging.INFO, __file__, 1, template, tuple(args), None
    )
    for key, value in _subjects(record):
        assert f"{key}=%" in template and isinstance(value, int) and not isinstance(value, bool)
