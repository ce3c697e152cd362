"""Several service processes at once: batches for the same user arriving together give exact
strikes and one notification per standing transition; ``nbwarden serve --workers 2`` stores
exactly, adds its workers' metrics up and leaves no worker behind when it is killed; a
token revoked in one process stops working in another within ``token_cache_seconds``; a
Hub login started in one process finishes in another."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nbwarden.events import Event
from nbwarden.service import create_app, crud
from nbwarden.service import models as m
from nbwarden.service.context import Service
from nbwarden.service.ingest import ingest
from nbwarden.service.models import utcnow
from nbwarden.service.schemas import EventIn
from nbwarden.service.tokens import TokenInfo

from .conftest import fresh_pg_db, issue_token, make_settings
from .server import ServerProcess
from .factory import event


def transitions(svc: Service, name: str) -> list[tuple[str, str]]:
    with svc.db() as db:
        rows = db.scalars(select(m.AuditEntry.detail).where(m.AuditEntry.action == "standing.change",
                                                            m.AuditEntry.subject == f"user:{name}")
                          .order_by(m.AuditEntry.id)).all()
    return [(d["from"], d["to"]) for d in rows]


@pytest.mark.parametrize("user_exists", [True, False], ids=["known-user", "new-user"])
def test_batches_for_one_user_at_once_notify_each_transition_once(db_url, user_exists):
    """The second batch must wait for the first (a lock on the user, or on PostgreSQL the
    first's uncommitted insert of a new user) and then count the first's strike: without
    that both would compute good -> warned and the user would never be told 'restricted'."""
    svc = Service(make_settings(db_url))
    try:
        with svc.db() as db:
            if user_exists:
                crud.ensure_users(db, names=["ada"])
            _, row = crud.create_token(db, name="agent", scopes=["events:write"], bound_user=None, bound_server=None,
                                       actor="test")
            db.commit()
            token = TokenInfo.of(row)
        first, second = svc.db(), svc.db()
        ingest(first, events=[EventIn(**event())], reporter=token, policy=svc.policy)  # not committed yet
        done, got = threading.Event(), {}

        def other_worker():
            got["result"] = ingest(second, events=[EventIn(**event())], reporter=token, policy=svc.policy)
            second.commit()
            done.set()
        t = threading.Thread(target=other_worker)
        t.start()
        try:
            assert not done.wait(0.5), "the second batch did not wait for the first one's commit"
        finally:
            first.commit()
            t.join(timeout=60)
        first.close()
        second.close()
        assert done.is_set()
        assert got["result"].standing_changes["ada"][0] == "warned"
        assert transitions(svc, "ada") == [("good", "warned"), ("warned", "restricted")]
        with svc.db() as db:
            assert db.scalar(select(func.count()).select_from(m.Strike)) == 2
            assert db.scalar(select(func.count()).select_from(m.Notification)) == 2
            assert db.scalar(select(func.count()).select_from(m.User).where(m.User.name == "ada")) == 1
    finally:
        svc.close()


def test_serve_with_two_workers_is_exact(pg_cluster, tmp_path):
    url = fresh_pg_db(pg_cluster)
    token, prom = issue_token(url), issue_token(url, name="prom", scopes=("metrics:read",))
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    srv = ServerProcess(url, tmp_path, "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)).start()
    # every batch names every user, half of them with a strike, and the users do not exist
    # yet: the first batches of the four reporters race to create them and strike them
    users = ("ada", "bob", "cyd", "dan", "eve", "fay")
    batches = [[Event(source="watcher", outcome="terminated" if (b + i) % 2 == 0 else "logged",
                      action="terminate" if (b + i) % 2 == 0 else "log", user=name, category="mining",
                      confidence=0.9, content_hash=f"h{b}-{i}").to_dict() for i, name in enumerate(users)]
               for b in range(24)]
    codes: list[int] = []

    def reporter(mine):
        for batch in mine:  # a new connection per batch, so both workers get some
            for _ in range(3):
                r = httpx.post(f"{srv.url}/api/events", json=batch, headers={"Authorization": f"Bearer {token}"},
                               timeout=60)
                if r.status_code != 503:
                    break
            codes.append(r.status_code)
    try:
        workers = worker_pids(srv.proc.pid)
        assert len(workers) == 2, "serve --workers 2 should run two worker processes"
        threads = [threading.Thread(target=reporter, args=(batches[k::4],)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        again = httpx.post(f"{srv.url}/api/events", json=batches[0], headers={"Authorization": f"Bearer {token}"},
                           timeout=60).json()
        text = httpx.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {prom}"}, timeout=30).text
    finally:
        srv.kill()  # SIGKILL the supervisor: its workers must not outlive it
    assert codes == [200] * len(batches)
    assert again == {"accepted": 0, "duplicates": len(batches[0]), "strikes": 0}
    sent = [e for b in batches for e in b]
    stored = sum(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith("nbwarden_events_total{"))
    assert stored == len(sent), "the metrics should add up every worker's counts"
    end = time.monotonic() + 15
    while time.monotonic() < end and any(alive(p) for p in workers):
        time.sleep(0.1)
    assert not any(alive(p) for p in workers), "a worker outlived serve"

    svc = Service(make_settings(url), run_migrations=False)
    try:
        with svc.db() as db:
            assert crud.count_events(db) == len(sent)
            assert db.scalar(select(func.count()).select_from(m.Strike)) == sum(e["outcome"] == "terminated"
                                                                                for e in sent)
        now = utcnow()
        for name in users:  # every step of the ladder each user climbed, once, in order
            n = sum(1 for e in sent if e["user"] == name and e["outcome"] == "terminated")
            ladder = [svc.policy.standing([now] * k, now).standing for k in range(n + 1)]
            assert transitions(svc, name) == [(a, b) for a, b in zip(ladder, ladder[1:]) if a != b]
    finally:
        svc.close()


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()  # [state, ppid, ...]


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: children of ``serve`` started by multiprocessing."""
    out = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and int(_stat(int(d))[1]) == parent and \
                    b"spawn_main" in Path(f"/proc/{d}/cmdline").read_bytes():
                out.append(int(d))
        except OSError:
            continue
    return out


def alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def test_revoked_token_stops_in_other_processes_within_cache_time(sqlite_url):
    """Two services on one database stand for two worker processes; the second's clock is
    driven by the test, so nothing sleeps."""
    a = create_app(make_settings(sqlite_url))
    b = create_app(make_settings(sqlite_url, token_cache_seconds=5))
    now = [1000.0]
    b.state.service.tokens.clock = lambda: now[0]
    with TestClient(a, base_url="https://testserver") as ca, TestClient(b, base_url="https://testserver") as cb:
        with a.state.service.db() as db:
            plain, row = crud.create_token(db, name="agent", scopes=["events:write"], bound_user=None,
                                           bound_server=None, actor="test")
            crud.create_account(db, name="otto", role="operator", password="otto-password", tier=None, actor="test")
            db.commit()
        auth = {"Authorization": f"Bearer {plain}"}
        assert cb.post("/api/events", json=event(), headers=auth).status_code == 200  # b checks it and keeps it
        assert ca.post("/api/events", json=event(), headers=auth).status_code == 200
        with a.state.service.db() as db:
            assert crud.revoke_token(db, token_id=row.id, actor="test")
            db.commit()
        a.state.service.tokens.forget(row.id)
        assert ca.post("/api/events", json=event(), headers=auth).status_code == 401  # at once where revoked
        now[0] += 4.9
        assert cb.post("/api/events", json=event(), headers=auth).status_code == 200  # still trusted by b
        now[0] += 0.2
        assert cb.post("/api/events", json=event(), headers=auth).status_code == 401  # and no longer


def test_hub_login_started_in_one_process_finishes_in_another(sqlite_url, monkeypatch):
    """The Hub sends the browser back to whichever worker accepts the connection, so the
    login in progress travels in a signed cookie, not in one process's memory."""
    pytest.importorskip("jupyterhub", reason="jupyterhub (hub extra) is not installed")
    from urllib.parse import parse_qs, urlparse

    from nbwarden.hub.oauth import STATE_COOKIE

    from .pg import free_port
    for k, v in {"JUPYTERHUB_API_URL": f"http://127.0.0.1:{free_port()}/hub/api", "JUPYTERHUB_API_TOKEN": "t" * 32,
                 "JUPYTERHUB_CLIENT_ID": "service-nbwarden", "JUPYTERHUB_SERVICE_PREFIX": "/",
                 "JUPYTERHUB_OAUTH_CALLBACK_URL": "/oauth_callback", "JUPYTERHUB_BASE_URL": "/"}.items():
        monkeypatch.setenv(k, v)
    secret = "k" * 40
    a = create_app(make_settings(sqlite_url, hub_login=True, secret_key=secret))
    b = create_app(make_settings(sqlite_url, hub_login=True, secret_key=secret))
    with TestClient(a, base_url="https://testserver", raise_server_exceptions=False) as ca, \
            TestClient(b, base_url="https://testserver", raise_server_exceptions=False) as cb:
        r = ca.get("/login", follow_redirects=False)
        assert r.status_code == 302
        state = parse_qs(urlparse(r.headers["location"]).query)["state"][0]
        sealed = r.cookies[STATE_COOKIE]
        forged = sealed[:-4] + ("0000" if not sealed.endswith("0000") else "1111")
        for cookie, st in ((forged, state), (sealed, "another-state"), (None, state)):
            cb.cookies.clear()
            if cookie:
                cb.cookies.set(STATE_COOKIE, cookie)
            r = cb.get("/oauth_callback", params={"code": "c", "state": st})
            assert r.status_code == 403 and "login state mismatch" in r.text
        cb.cookies.clear()
        cb.cookies.set(STATE_COOKIE, sealed)
        r = cb.get("/oauth_callback", params={"code": "c", "state": state})
        # the state is accepted by the other process; exchanging the code then fails, as no Hub is there
        assert r.status_code != 403 and "login state mismatch" not in r.text
