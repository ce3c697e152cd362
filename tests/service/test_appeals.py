"""Appeals and reviews end to end through the JSON API, on SQLite and PostgreSQL."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .factory import event, mining_event


def suspend_ada(world) -> list[dict]:
    evs = [event(content_hash=f"hash-{i}") for i in range(3)]
    for e in evs:
        assert world.send(e).status_code == 200
    return evs


def test_user_sees_own_standing_events_and_evidence(world):
    e = mining_event()
    world.send(e)
    ada = world.login("ada")
    me = ada.get("/api/me").json()
    assert me["standing"]["standing"] == "warned" and me["standing"]["strikes"] == 1
    evs = ada.get("/api/users/ada/events").json()
    assert [x["id"] for x in evs] == [e["id"]]
    assert evs[0]["findings"][0]["rule_id"] == e["rules"][0] and evs[0]["strike"] == "active"


def test_dismiss_removes_strike_allowlists_and_notifies(world):
    evs = suspend_ada(world)
    ada, rita = world.login("ada"), world.login("rita")
    assert ada.get("/api/me").json()["standing"]["standing"] == "suspended"
    r = ada.post(f"/api/events/{evs[0]['id']}/appeal", json={"message": "that was a dataset cache file"})
    assert r.status_code == 201
    appeal = r.json()
    assert ada.post(f"/api/events/{evs[0]['id']}/appeal", json={"message": "again"}).status_code == 409
    r = rita.post(f"/api/appeals/{appeal['id']}/review", json={"decision": "dismiss", "note": "false positive"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    st = ada.get("/api/me").json()["standing"]
    assert st["standing"] == "restricted" and st["strikes"] == 2
    assert world.client.get("/api/allowlist", headers=world.bearer(world.reporter)).json()["hashes"] == ["hash-0"]
    notes = ada.get("/api/notifications").json()
    assert notes[0]["kind"] == "appeal.dismissed" and "false positive" in notes[0]["message"]
    assert ada.get(f"/api/events/{evs[0]['id']}").json()["strike"] == "dismissed"
    # the same content, for anyone, never strikes again
    assert world.send(event(user="bob", content_hash="hash-0")).json()["strikes"] == 0
    # a decided appeal cannot be decided again
    assert rita.post(f"/api/appeals/{appeal['id']}/review", json={"decision": "uphold"}).status_code == 409
    audit = world.login("otto").get("/api/audit").json()
    actions = [(a["actor"], a["action"]) for a in audit]
    assert ("user:rita", "appeal.dismiss") in actions and ("user:rita", "allowlist.add") in actions
    assert ("user:ada", "appeal.open") in actions


def test_uphold_keeps_the_strike_and_tells_the_user(world):
    evs = suspend_ada(world)
    ada, rita = world.login("ada"), world.login("rita")
    a = ada.post(f"/api/events/{evs[1]['id']}/appeal", json={"message": "please"}).json()
    assert rita.post(f"/api/appeals/{a['id']}/review", json={"decision": "uphold", "note": "miner"}).status_code == 200
    assert ada.get("/api/me").json()["standing"]["standing"] == "suspended"
    assert ada.get("/api/notifications").json()[0]["kind"] == "appeal.upheld"
    got = ada.get(f"/api/appeals/{a['id']}").json()
    assert got["reviews"][0]["reviewer"] == "rita" and got["reviews"][0]["decision"] == "uphold"


def test_queue_is_oldest_first_with_age(world):
    evs = suspend_ada(world)
    world.send(event(user="bob", content_hash="b"))
    ada, bob, rita = world.login("ada"), world.login("bob"), world.login("rita")
    first = ada.post(f"/api/events/{evs[2]['id']}/appeal", json={"message": "one"}).json()
    time.sleep(0.05)
    bob_ev = bob.get("/api/users/bob/events").json()[0]
    second = bob.post(f"/api/events/{bob_ev['id']}/appeal", json={"message": "two"}).json()
    q = rita.get("/api/queue").json()
    assert [a["id"] for a in q] == [first["id"], second["id"]]
    assert q[0]["age_seconds"] >= q[1]["age_seconds"] >= 0


def test_reviewer_cannot_decide_own_appeal(world):
    world.send(event(user="rita"))
    rita = world.login("rita")
    ev = rita.get("/api/users/rita/events").json()[0]
    a = rita.post(f"/api/events/{ev['id']}/appeal", json={"message": "mine"}).json()
    assert rita.post(f"/api/appeals/{a['id']}/review", json={"decision": "dismiss"}).status_code == 403


def test_cannot_appeal_someone_elses_event(world):
    e = event(user="bob")
    world.send(e)
    ada = world.login("ada")
    assert ada.post(f"/api/events/{e['id']}/appeal", json={"message": "x"}).status_code == 404


def test_audit_log_is_append_only(world):
    suspend_ada(world)
    with world.svc.engine.connect() as conn:
        for sql in ("UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
