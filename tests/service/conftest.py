"""Fixtures for the policy service: every test gets its own database, on SQLite (a file in
its tmp dir) and on a real PostgreSQL (a fresh database cloned from a migrated template in
a throwaway cluster this session starts). Nothing is shared between tests."""
from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

import httpx
import pytest

from .pg import Cluster

pytest.importorskip("fastapi", reason="the service extra (nbwarden[service]) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from nbwarden.service import create_app  # noqa: E402
from nbwarden.service import crud  # noqa: E402
from nbwarden.service.db import make_engine, migrate  # noqa: E402
from nbwarden.service.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_n = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster():
    try:
        c = Cluster()
        c.start()
    except Exception as e:
        pytest.skip(f"no PostgreSQL server could be started here: {e}")
    c.admin("CREATE DATABASE nbw_template")
    eng = make_engine(c.url("nbw_template"))
    migrate(eng)
    eng.dispose()
    yield c
    c.destroy()


def fresh_pg_db(cluster: Cluster) -> str:
    name = f"t{os.getpid()}_{next(_n)}"
    cluster.admin(f"CREATE DATABASE {name} TEMPLATE nbw_template")
    return cluster.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite'}"
    else:
        yield fresh_pg_db(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'service.sqlite'}"


def make_settings(db_url: str, **over) -> Settings:
    base = dict(database_url=db_url, secret_key=secrets.token_urlsafe(32), log_json=True,
                rate_per_second=1000.0, rate_burst=1000, webhook_backoff_seconds=0.05)
    base.update(over)
    return Settings(**base)


class World:
    """A service plus the people and tokens tests talk about."""

    def __init__(self, app, client: TestClient):
        self.app, self.client = app, client
        self.svc = app.state.service
        self.clients: list[TestClient] = []
        with self.svc.db() as db:
            for name, role in (("ada", "user"), ("bob", "user"), ("rita", "reviewer"), ("otto", "operator")):
                crud.create_account(db, name=name, role=role, password=f"{name}-password", tier=None, actor="test")
            self.reporter, _ = crud.create_token(db, name="node-agent", scopes=["events:write", "allowlist:read"],
                                                 bound_user=None, bound_server=None, actor="test")
            self.ada_server, _ = crud.create_token(db, name="ada-server", scopes=["events:write", "allowlist:read"],
                                                   bound_user="ada", bound_server=None, actor="test")
            self.hub, _ = crud.create_token(db, name="hub", scopes=["standing:read"], bound_user=None,
                                            bound_server=None, actor="test")
            self.metrics_token, _ = crud.create_token(db, name="prom", scopes=["metrics:read"], bound_user=None,
                                                      bound_server=None, actor="test")
            db.commit()

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def login(self, name: str) -> TestClient:
        """A separate browser (cookie jar) logged in as ``name`` through the login form."""
        c = TestClient(self.app, base_url="https://testserver", raise_server_exceptions=False)
        self.clients.append(c)
        r = c.get("/login")
        csrf = r.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"name": name, "password": f"{name}-password", "csrf": csrf, "next": "/me"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
        return c

    def send(self, events, token: str | None = None) -> httpx.Response:
        return self.client.post("/api/events", json=events, headers=self.bearer(token or self.reporter))


@pytest.fixture
def world(db_url):
    app = create_app(make_settings(db_url))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        w = World(app, client)
        yield w
        for c in w.clients:
            c.close()


@pytest.fixture
def sqlite_world(sqlite_url):
    app = create_app(make_settings(sqlite_url))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        w = World(app, client)
        yield w
        for c in w.clients:
            c.close()


def issue_token(db_url: str, name: str = "agent", scopes=("events:write", "allowlist:read"), bound_user=None) -> str:
    eng = make_engine(db_url)
    migrate(eng)
    from nbwarden.service.db import make_sessionmaker
    with make_sessionmaker(eng)() as db:
        plain, _ = crud.create_token(db, name=name, scopes=list(scopes), bound_user=bound_user, bound_server=None,
                                     actor="test")
        db.commit()
    eng.dispose()
    return plain
