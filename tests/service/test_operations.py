"""Operations: Prometheus metrics, signed webhooks with retry and backoff against a real
loopback receiver, health and readiness, structured JSON logs."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from nbwarden.service import create_app
from nbwarden.service.webhooks import verify

from .conftest import World, make_settings
from .factory import event

SECRET = "w" * 40


class Receiver:
    """A webhook endpoint that answers 500 to the first ``fail`` attempts of each delivery."""

    def __init__(self, fail: int = 2):
        self.attempts: list[tuple[dict, bytes, bool]] = []
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                outer.attempts.append((headers, body, verify(SECRET, headers, body)))
                tries = sum(1 for h, _, _ in outer.attempts if h["X-NBWarden-Delivery"] == headers["X-NBWarden-Delivery"])
                self.send_response(500 if tries <= outer.fail else 204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_suspension_webhook_is_signed_and_retried(sqlite_url, receiver):
    app = create_app(make_settings(sqlite_url, webhook_urls=[receiver.url], webhook_secret=SECRET))
    with TestClient(app, base_url="https://testserver") as client:
        w = World(app, client)
        w.send([event(content_hash=f"h{i}") for i in range(3)])
        assert w.svc.background.idle(timeout=20)
    suspended = [(h, b, ok) for h, b, ok in receiver.attempts if h["X-NBWarden-Event"] == "user.suspended"]
    assert len(suspended) == 3  # two failures, then delivered
    assert all(ok for _, _, ok in suspended)
    assert len({h["X-NBWarden-Delivery"] for h, _, _ in suspended}) == 1
    body = json.loads(suspended[-1][1])
    assert body["data"]["user"] == "ada" and body["data"]["strikes"] == 3
    h, b, _ = suspended[0]
    assert not verify(SECRET, h, b + b" ")  # a tampered body fails
    assert not verify("another-secret-another-secret-another-sec", h, b)
    assert not verify(SECRET, h, b, now=float(h["X-NBWarden-Timestamp"]) + 3600)  # a late replay fails


def test_webhook_gives_up_after_max_attempts(sqlite_url):
    r = Receiver(fail=100)
    try:
        app = create_app(make_settings(sqlite_url, webhook_urls=[r.url], webhook_secret=SECRET,
                                       webhook_max_attempts=3))
        with TestClient(app, base_url="https://testserver") as client:
            w = World(app, client)
            w.send(event())  # ada: good -> warned
            assert w.svc.background.idle(timeout=20)
            assert w.svc.background.pending() == 0
        assert len([a for a in r.attempts if a[0]["X-NBWarden-Event"] == "user.standing"]) == 3
    finally:
        r.close()


def test_metrics(world):
    world.send([event(content_hash=f"h{i}") for i in range(3)] + [event(user="bob", category="torrent",
                                                                        outcome="warned", action="warn")])
    world.send(event(content_hash="h0", id="dup") | {"id": "dup"})
    world.send(event(content_hash="h0", id="dup") | {"id": "dup"})
    ada = world.login("ada")
    ev = ada.get("/api/users/ada/events").json()[0]
    ada.post(f"/api/events/{ev['id']}/appeal", json={"message": "x"})
    text = world.client.get("/metrics", headers=world.bearer(world.metrics_token)).text
    lines = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln and ln[0] != "#"}
    assert lines['nbwarden_events_total{action="block",category="mining"}'] == 4
    assert lines['nbwarden_events_total{action="warn",category="torrent"}'] == 1
    assert lines["nbwarden_event_duplicates_total"] == 1
    assert lines["nbwarden_appeal_queue_depth"] == 1
    assert lines["nbwarden_appeal_oldest_age_seconds"] >= 0
    assert lines["nbwarden_ingest_seconds_count"] == 3
    assert lines["nbwarden_strikes_total"] == 4


def test_health_and_json_logs(sqlite_url, capsys):
    app = create_app(make_settings(sqlite_url))
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        w = World(app, client)
        w.send(event())
    lines = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    reqs = [ln for ln in lines if ln["message"] == "request"]
    assert {"request_id", "method", "path", "status", "duration_ms", "principal"} <= set(reqs[-1])
    assert reqs[-1]["path"] == "/api/events" and reqs[-1]["principal"].startswith("token:")


def test_readyz_is_503_when_the_database_is_away(tmp_path):
    url = f"sqlite:///{tmp_path / 'service.sqlite'}"
    app = create_app(make_settings(url))
    with TestClient(app, base_url="https://testserver") as client:
        svc = app.state.service
        from nbwarden.service.db import make_engine
        svc.engine.dispose()
        svc.engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite'}")
        r = client.get("/readyz")
        assert r.status_code == 503 and "database" in r.json()["detail"]
        assert client.get("/healthz").status_code == 200
