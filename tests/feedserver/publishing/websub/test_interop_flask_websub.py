"""Interop: the PyPI package flask-websub's subscriber against our hub, on 127.0.0.1.

flask-websub (an independent implementation) discovers hub and topic from our
feed's Link headers, subscribes with a secret — it sends one only to an
https hub, so our app is served over TLS with a certificate made here —
answers our verification of intent, checks our X-Hub-Signature on each
delivery, and unsubscribes. Its hub half (which needs Celery) is not used:
this file tests our hub only.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from feedserver.models import HubSubscription
from tests.feedserver.publishing.websub.hub_support import make_deliverer

pytest.importorskip("flask_websub")
pytest.importorskip("cryptography")


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Served:
    """A WSGI app served by werkzeug on 127.0.0.1 in a thread."""

    def __init__(self, app, ssl_context=None):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer(tmp_path):
    """flask-websub's subscriber in its own Flask app, serving its callbacks."""
    from flask import Flask
    from flask_websub.subscriber import (
        SQLite3SubscriberStorage,
        SQLite3TempSubscriberStorage,
        Subscriber,
    )

    app = Flask("flask_websub_peer")
    store = str(tmp_path / "peer.sqlite")
    subscriber = Subscriber(SQLite3SubscriberStorage(store), SQLite3TempSubscriberStorage(store))
    app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))
    events: dict[str, list] = {"body": [], "ok": [], "error": []}
    subscriber.add_listener(lambda topic, cb, body: events["body"].append((topic, body)))
    subscriber.add_success_handler(lambda topic, cb, mode: events["ok"].append(mode))
    subscriber.add_error_handler(lambda topic, cb, why: events["error"].append(why))
    served = Served(app)
    yield app, subscriber, served, events
    served.close()


@pytest.fixture
def app_config(app_config, peer):
    app_config["UPSTREAM_ALLOWLIST"] = f"127.0.0.1:{peer[2].port}"
    return app_config


def test_flask_websub_subscriber_against_our_hub(
    app, api, db, newsroom, peer, tmp_path, monkeypatch
):
    from flask_websub.subscriber import discover

    peer_app, subscriber, peer_server, events = peer
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    ours = Served(app, ssl_context=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the peer uses requests
    hub = make_deliverer(app)
    try:
        feed = f"https://127.0.0.1:{ours.port}/sections/world/feed.atom"
        with peer_app.test_request_context(base_url=f"http://127.0.0.1:{peer_server.port}"):
            found = discover(feed)
            assert found == {"hub_url": f"https://127.0.0.1:{ours.port}/websub", "topic_url": feed}
            callback_id = subscriber.subscribe(**found, lease_seconds=3600)
        hub.run_once()  # verification of intent
        assert events["ok"] == ["subscribe"] and events["error"] == []
        with db.session() as s:
            sub = s.scalars(select(HubSubscription)).one()
            assert sub.state == "active" and sub.secret  # the peer chose a secret: https hub
            assert sub.lease_seconds == 3600

        api.post(
            "/api/articles",
            json={"title": "Interop works", "summary": "s", "body_html": "<p>b</p>",
                  "section": "world", "authors": ["ada"]},
        )  # fmt: skip
        hub.run_once()
        # The peer hands a body to its listeners only when our signature checks out.
        assert len(events["body"]) == 1
        topic, body = events["body"][0]
        assert topic == feed and b"Interop works" in body
        with db.session() as s:
            assert s.scalars(select(HubSubscription)).one().last_status == 200

        with peer_app.test_request_context(base_url=f"http://127.0.0.1:{peer_server.port}"):
            subscriber.unsubscribe(callback_id)
        hub.run_once()
        assert events["ok"] == ["subscribe", "unsubscribe"]
        with db.session() as s:
            assert s.scalars(select(HubSubscription)).one().state == "ended"
    finally:
        ours.close()
