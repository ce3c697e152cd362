"""Ingest on SQLite and PostgreSQL: idempotent by event id, strikes by the policy, token
binding, and every bad request answered with the right status and nothing lost."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from nbwarden.service import models as m

from .factory import days_ago, event, mining_event


def count(world, model) -> int:
    with world.svc.db() as db:
        return db.scalar(select(func.count()).select_from(model))


def standing(world, name: str) -> dict:
    return world.client.get(f"/api/users/{name}/standing", headers=world.bearer(world.hub)).json()


def test_single_and_batch_are_stored(world):
    r = world.send(event())
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0, "strikes": 1}
    r = world.send([event(user="bob", outcome="warned", action="warn") for _ in range(5)])
    assert r.json() == {"accepted": 5, "duplicates": 0, "strikes": 0}
    assert count(world, m.Event) == 6


def test_same_event_twice_counts_once(world):
    e = event()
    assert world.send(e).json()["accepted"] == 1
    assert world.send(e).json() == {"accepted": 0, "duplicates": 1, "strikes": 0}
    assert world.send([e, e, event()]).json() == {"accepted": 1, "duplicates": 2, "strikes": 1}
    assert count(world, m.Event) == 2 and count(world, m.Strike) == 2
    assert standing(world, "ada")["strikes"] == 2


def test_ladder_to_suspension_and_window(world):
    assert standing(world, "ada")["standing"] == "good"
    world.send(event(time=days_ago(40)))  # outside the 30-day window
    assert standing(world, "ada")["standing"] == "good"
    seen = []
    for _ in range(3):
        world.send(event())
        seen.append(standing(world, "ada")["standing"])
    assert seen == ["warned", "restricted", "suspended"]
    s = standing(world, "ada")
    assert s["suspended"] and "3 strikes in 30 days" in s["reason"] and "mining" in s["reason"]
    with world.svc.db() as db:
        changes = db.scalars(select(m.AuditEntry.detail).where(m.AuditEntry.action == "standing.change")).all()
    assert [c["to"] for c in changes] == ["warned", "restricted", "suspended"]


def test_dependency_compromise_and_mere_logs_never_strike(world):
    r = world.send([event(attribution="dependency:evil-pkg==1.0.2") for _ in range(4)]
                   + [event(outcome="logged", action="log"), event(outcome="warned", action="warn"),
                      event(outcome="cancelled", action="warn")])
    assert r.json() == {"accepted": 7, "duplicates": 0, "strikes": 0}
    assert standing(world, "ada")["standing"] == "good"


def test_ran_anyway_counts(world):
    assert world.send(event(outcome="ran-anyway", action="warn")).json()["strikes"] == 1


def test_bound_token_reports_only_its_user(world):
    r = world.send(event(user="bob"), token=world.ada_server)
    assert r.status_code == 403 and "ada" in r.json()["detail"]
    r = world.send(event(user=None), token=world.ada_server)  # the token names the user, not the kernel
    assert r.status_code == 200
    assert standing(world, "ada")["strikes"] == 1 and count(world, m.Event) == 1


def test_malformed_payloads_are_422_and_store_nothing(world):
    good = event()
    bad = [
        {**good, "outcome": "exploded"},
        {**good, "time": "yesterday"},
        {**good, "confidence": 7},
        {**good, "category": "not-a-category"},
        {**good, "id": "has spaces and /slashes"},
        {**good, "attribution": "someone-else"},
        {k: v for k, v in good.items() if k != "source"},
        [good, {"id": "x"}],
        "a string",
    ]
    for body in bad:
        r = world.send(body)
        assert r.status_code == 422, body
        assert isinstance(r.json()["detail"], list)
    r = world.client.post("/api/events", content=b"{not json", headers={**world.bearer(world.reporter),
                                                                         "Content-Type": "application/json"})
    assert r.status_code == 422
    assert count(world, m.Event) == 0


def test_oversized_payloads_are_413(world):
    big = event(detail={"blob": "x" * 1_100_000})
    r = world.send(big)
    assert r.status_code == 413
    r = world.client.post("/api/events", content=iter([json.dumps(big).encode()]),
                          headers={**world.bearer(world.reporter), "Content-Type": "application/json"})
    assert r.status_code == 413  # streamed without Content-Length
    r = world.send([event() for _ in range(1001)])
    assert r.status_code == 413
    assert count(world, m.Event) == 0


def test_forged_malformed_and_revoked_tokens_are_401(world):
    e = event()
    assert world.send(e, token="nbw_forged0000000000000000000000000000000").status_code == 401
    assert world.client.post("/api/events", json=e, headers={"Authorization": "Basic abc"}).status_code == 401
    assert world.client.post("/api/events", json=e).status_code == 401
    otto = world.login("otto")
    tokens = otto.get("/api/tokens").json()
    ada_id = next(t["id"] for t in tokens if t["name"] == "ada-server")
    assert otto.delete(f"/api/tokens/{ada_id}").status_code == 204
    assert world.send(e, token=world.ada_server).status_code == 401  # replaying a revoked token
    assert count(world, m.Event) == 0


def test_token_without_scope_cannot_ingest(world):
    assert world.send(event(), token=world.hub).status_code == 403


def test_flood_from_one_token_is_429_and_others_unaffected(world):
    world.svc.limiter.rate, world.svc.limiter.burst = 0.01, 5  # no refill during the test, however slow the machine
    codes = [world.send(event(user="bob")).status_code for _ in range(12)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    r = world.send(event(user="bob"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert world.send(event(), token=world.ada_server).status_code == 200
    assert count(world, m.Event) == 6


def test_real_engine_findings_round_trip(world):
    e = mining_event()
    assert world.send(e).json()["accepted"] == 1
    rita = world.login("rita")
    got = rita.get(f"/api/events/{e['id']}").json()
    assert got["rules"] == e["rules"] and got["findings"][0]["evidence"][0]["snippet"].startswith("xmrig")
    assert got["strike"] == "active"


def test_allowlist_is_loaded_by_servers(world):
    r = world.client.get("/api/allowlist", headers=world.bearer(world.reporter))
    assert r.status_code == 200 and r.json()["hashes"] == []
