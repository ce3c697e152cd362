"""Every route, and what each kind of caller gets: anonymous, another user, the user
concerned, a reporter token, a reviewer, an operator (plus the hub's and Prometheus'
narrow tokens where they apply). Pages answer anonymous callers with a redirect to the
login page (303). Run on SQLite; the rules do not depend on the database."""
from __future__ import annotations

import pytest

from .factory import event

WHO = ("anon", "bob", "ada", "reporter", "rita", "otto")


@pytest.fixture
def setup(sqlite_world):
    w = sqlite_world
    e1, e2 = event(content_hash="h1"), event(content_hash="h2")
    w.send([e1, e2])
    callers = {"anon": w.client, "reporter": w.client}
    for name in ("bob", "ada", "rita", "otto"):
        callers[name] = w.login(name)
    appeal = callers["ada"].post(f"/api/events/{e1['id']}/appeal", json={"message": "not me"}).json()
    otto = callers["otto"]
    prom_id = next(t["id"] for t in otto.get("/api/tokens").json() if t["name"] == "prom")
    return w, callers, {"E": e1["id"], "E2": e2["id"], "A": appeal["id"], "T": prom_id}


# (method, path, body, expected per caller in the order of WHO)
ROUTES = [
    ("GET", "/healthz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/readyz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/openapi.json", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/me", None, (401, 200, 200, 200, 200, 200)),
    ("GET", "/api/users/ada/standing", None, (401, 403, 200, 403, 200, 200)),
    ("GET", "/api/users/ada/events", None, (401, 403, 200, 403, 200, 200)),
    ("GET", "/api/users/ada/appeals", None, (401, 403, 200, 403, 200, 200)),
    ("GET", "/api/events/{E}", None, (401, 404, 200, 403, 200, 200)),
    ("GET", "/api/events/does-not-exist", None, (401, 404, 404, 403, 404, 404)),
    ("GET", "/api/appeals/{A}", None, (401, 404, 200, 403, 200, 200)),
    ("GET", "/api/queue", None, (401, 403, 403, 403, 200, 200)),
    ("GET", "/api/notifications", None, (401, 200, 200, 403, 200, 200)),
    ("GET", "/api/allowlist", None, (401, 200, 200, 200, 200, 200)),
    ("GET", "/api/tokens", None, (401, 403, 403, 403, 403, 200)),
    ("GET", "/api/audit", None, (401, 403, 403, 403, 403, 200)),
    ("GET", "/metrics", None, (401, 403, 403, 403, 403, 200)),
    ("POST", "/api/events", "event", (401, 403, 403, 200, 403, 403)),
    ("POST", "/api/events/{E2}/appeal", {"message": "wrong"}, (401, 404, 201, 403, 404, 404)),
    ("POST", "/api/appeals/{A}/review", {"decision": "uphold"}, (401, 403, 403, 403, 200, 409)),
    ("PUT", "/api/users/ada/tier", {"tier": "pro"}, (401, 403, 403, 403, 403, 200)),
    ("POST", "/api/tokens", {"name": "x"}, (401, 403, 403, 403, 403, 201)),
    ("POST", "/api/accounts", {"name": "newbie", "role": "user"}, (401, 403, 403, 403, 403, 201)),
    ("DELETE", "/api/tokens/{T}", None, (401, 403, 403, 403, 403, 204)),
    # pages
    ("GET", "/me", None, (303, 200, 200, 403, 200, 200)),
    ("GET", "/users/ada", None, (303, 403, 200, 403, 200, 200)),
    ("GET", "/events/{E}", None, (303, 404, 200, 403, 200, 200)),
    ("GET", "/appeals/{A}", None, (303, 404, 200, 403, 200, 200)),
    ("GET", "/queue", None, (303, 403, 403, 403, 200, 200)),
    ("GET", "/dashboard", None, (303, 403, 403, 403, 200, 200)),
]


@pytest.mark.parametrize("method,path,body,expected", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_access(setup, method, path, body, expected):
    w, callers, ids = setup
    path = path.format(**ids)
    for who, want in zip(WHO, expected):
        headers = w.bearer(w.reporter) if who == "reporter" else {}
        kw = {"json": event() if body == "event" else body} if body is not None else {}
        r = callers[who].request(method, path, headers=headers, follow_redirects=False, **kw)
        assert r.status_code == want, f"{who}: {method} {path} -> {r.status_code} {r.text[:200]}"


def test_narrow_tokens(setup):
    w, _, _ = setup
    assert w.client.get("/api/users/ada/standing", headers=w.bearer(w.hub)).status_code == 200
    assert w.client.get("/api/users/ada/events", headers=w.bearer(w.hub)).status_code == 403
    assert w.client.get("/metrics", headers=w.bearer(w.metrics_token)).status_code == 200
    assert w.client.get("/metrics", headers=w.bearer(w.hub)).status_code == 403


def test_cookie_writes_need_csrf(setup):
    w, callers, ids = setup
    ada = callers["ada"]
    token = ada.headers.pop("X-CSRF-Token")
    r = ada.post(f"/api/events/{ids['E2']}/appeal", json={"message": "no csrf"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = ada.post(f"/api/events/{ids['E2']}/appeal", json={"message": "forged"}, headers={"X-CSRF-Token": "guess"})
    assert r.status_code == 403
    r = ada.post(f"/events/{ids['E2']}/appeal", data={"message": "form without csrf"}, follow_redirects=False)
    assert r.status_code == 403
    r = ada.post(f"/events/{ids['E2']}/appeal", data={"message": "form", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303


def test_logout_makes_a_replayed_cookie_worthless(setup):
    w, callers, _ = setup
    bob = callers["bob"]
    cookie = bob.cookies.get("nbwarden-session")
    r = bob.post("/logout", data={"csrf": bob.headers["X-CSRF-Token"]}, follow_redirects=False)
    assert r.status_code == 303
    w.client.cookies.set("nbwarden-session", cookie)
    try:
        assert w.client.get("/api/me").status_code == 401
    finally:
        w.client.cookies.clear()


def test_wrong_password_and_login_csrf(sqlite_world):
    w = sqlite_world
    from fastapi.testclient import TestClient
    with TestClient(w.app, base_url="https://testserver") as c:
        page = c.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"name": "ada", "password": "wrong-password", "csrf": csrf})
        assert r.status_code == 401 and "Wrong name or password" in r.text
        r = c.post("/login", data={"name": "nobody", "password": "whatever1", "csrf": csrf})
        assert r.status_code == 401
        c.cookies.clear()
        r = c.post("/login", data={"name": "ada", "password": "ada-password", "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 403  # no pre-login cookie: a cross-site login attempt
