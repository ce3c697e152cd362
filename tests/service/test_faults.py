"""Faults against real processes: the service SIGKILLed in the middle of writes, the
database restarted under load, a reporter offline then catching up from its spool, a
reporter restarted with events still spooled. In every case the events stored are exactly
the events sent: none lost, none counted twice."""
from __future__ import annotations

import json
import sqlite3
import threading
import time

from sqlalchemy import create_engine, text

from nbwarden.events import Event
from nbwarden.reporting import Reporter

from .conftest import fresh_pg_db, issue_token
from .server import ServerProcess


def make_events(n: int, users=("ada", "bob", "cyd")) -> list[Event]:
    out = []
    for i in range(n):
        counts = i % 7 == 0
        out.append(Event(source="watcher", outcome="terminated" if counts else "logged",
                         action="terminate" if counts else "log", user=users[i % len(users)], category="mining",
                         confidence=0.9, rules=["NBW202"], content_hash=f"c{i % 50}"))
    return out


def stored(db_url: str) -> tuple[int, int, set[str]]:
    eng = create_engine(db_url)
    with eng.connect() as c:
        n = c.execute(text("SELECT count(*) FROM events")).scalar()
        s = c.execute(text("SELECT count(*) FROM strikes")).scalar()
        ids = set(c.execute(text("SELECT id FROM events")).scalars())
    eng.dispose()
    return n, s, ids


def reporter(tmp_path, url: str, token: str, name: str = "rep") -> Reporter:
    rep = Reporter.from_config(store_path=tmp_path / f"{name}.sqlite", service_url=url, token=token)
    rep.delivery.batch, rep.delivery.backoff, rep.delivery.max_backoff = 25, 0.05, 0.5
    return rep


def test_service_sigkilled_during_ingest(db_url, tmp_path):
    token = issue_token(db_url)
    srv = ServerProcess(db_url, tmp_path).start()
    rep = reporter(tmp_path, srv.url, token)
    events = make_events(600)
    # events keep coming while the service dies: reported from a thread, so however fast the
    # service drains the spool, the kill lands in the middle of the stream
    feeder = threading.Thread(target=lambda: [rep.report(e) for e in events])
    try:
        feeder.start()
        deadline = time.monotonic() + 60
        while rep.delivery.delivered < 150 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert rep.delivery.delivered >= 150
        srv.kill()  # SIGKILL, in the middle of the stream of batches
        feeder.join(timeout=120)
        in_flight = rep.delivery.spool.pending()
        assert 0 < in_flight < len(events)
        time.sleep(0.3)
        srv.start()
        assert rep.flush(timeout=120) == 0
    finally:
        rep.close()
        srv.stop()
    n, strikes, ids = stored(db_url)
    assert n == len(events) and ids == {e.id for e in events}
    assert strikes == sum(1 for e in events if e.counts_against_user)


def test_database_restarted_under_load(pg_cluster, tmp_path):
    url = fresh_pg_db(pg_cluster)
    token = issue_token(url)
    srv = ServerProcess(url, tmp_path).start()
    reps = [reporter(tmp_path, srv.url, token, name=f"rep{i}") for i in range(2)]
    batches = [make_events(600, users=(f"u{i}a", f"u{i}b")) for i in range(2)]

    def feed(rep, evs):
        for e in evs:
            rep.report(e)
            time.sleep(0.0005)
    threads = [threading.Thread(target=feed, args=(r, b)) for r, b in zip(reps, batches)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.4)
        pg_cluster.restart()  # immediate shutdown (a crash) and start, while reporters send
        for t in threads:
            t.join()
        assert all(r.flush(timeout=120) == 0 for r in reps)
        log = srv.log.read_text()
    finally:
        for r in reps:
            r.close()
        srv.stop()
    n, strikes, ids = stored(url)
    sent = [e for b in batches for e in b]
    assert n == len(sent) and ids == {e.id for e in sent}
    assert strikes == sum(1 for e in sent if e.counts_against_user)
    assert '"status": 503' in log, "the restart should have been seen by the service (503s, retried)"


def test_reporter_offline_then_catches_up_from_spool(tmp_path, sqlite_url):
    token = issue_token(sqlite_url)
    srv = ServerProcess(sqlite_url, tmp_path)  # port chosen, nothing listening yet
    rep = reporter(tmp_path, srv.url, token)
    events = make_events(120)
    try:
        for e in events:
            rep.report(e)
        assert rep.flush(timeout=1.0) == len(events)  # the service is not there: all kept on disk
        assert len(rep.recent(limit=1000)) == len(events)  # and the local store has them all
        srv.start()
        assert rep.flush(timeout=60) == 0
    finally:
        rep.close()
        srv.stop()
    n, _, ids = stored(sqlite_url)
    assert n == len(events) and ids == {e.id for e in events}


class CountingEvent(Event):
    """An event that counts how often it is turned into JSON-ready data."""

    encoded = 0

    def to_dict(self):
        self.encoded += 1
        return super().to_dict()


def test_an_event_is_encoded_once_and_sent_as_spooled(tmp_path, sqlite_url):
    """The store and the spool keep one encoding of the event (the same text), and the
    service receives that text: it arrives whole, findings and detail included."""
    token = issue_token(sqlite_url)
    srv = ServerProcess(sqlite_url, tmp_path)  # nothing listening yet: the event stays spooled
    rep = reporter(tmp_path, srv.url, token)
    ev = CountingEvent(source="jupyter", outcome="blocked", action="block", user="ada", category="mining",
                       confidence=0.9, rules=["NBW202"], content_hash="c0", detail={"path": "x.ipynb"},
                       findings=[{"rule_id": "NBW202", "evidence": [{"snippet": "xmrig \u00e9"}]}])
    try:
        rep.report(ev)
        assert ev.encoded == 1
        [(spooled_id, spooled)] = rep.delivery.spool.peek(10)
        with sqlite3.connect(rep.store.path) as db:
            [(kept,)] = db.execute("SELECT body FROM events WHERE id = ?", (ev.id,)).fetchall()
        assert spooled_id == ev.id and spooled == kept and json.loads(kept) == Event.to_dict(ev)
        srv.start()
        assert rep.flush(timeout=60) == 0
    finally:
        rep.close()
        srv.stop()
    eng = create_engine(sqlite_url)
    with eng.connect() as c:
        row = c.execute(text("SELECT id, outcome, category, detail, findings FROM events")).one()
    eng.dispose()
    detail, findings = (json.loads(v) if isinstance(v, str) else v for v in row[3:])
    assert row[:3] == (ev.id, "blocked", "mining") and detail == ev.detail and findings == ev.findings


def test_spooled_events_drain_on_next_start(tmp_path, sqlite_url):
    token = issue_token(sqlite_url)
    srv = ServerProcess(sqlite_url, tmp_path)
    rep = reporter(tmp_path, srv.url, token)
    events = make_events(40)
    for e in events:
        rep.report(e)
    rep.close()  # process ends with everything still spooled
    srv.start()
    try:
        rep2 = reporter(tmp_path, srv.url, token)
        assert rep2.flush(timeout=60) == 0
        rep2.report(events[0])  # the same event again, from the new process
        assert rep2.flush(timeout=30) == 0
        rep2.close()
    finally:
        srv.stop()
    n, _, ids = stored(sqlite_url)
    assert n == len(events) and ids == {e.id for e in events}


def test_refused_event_goes_to_dead_table_and_rest_delivered(tmp_path, sqlite_url):
    token = issue_token(sqlite_url, bound_user="ada")
    srv = ServerProcess(sqlite_url, tmp_path).start()
    rep = reporter(tmp_path, srv.url, token)
    good = make_events(10, users=("ada",))
    bad = Event(source="jupyter", outcome="blocked", action="block", user="mallory", category="mining")
    try:
        for e in good[:5] + [bad] + good[5:]:
            rep.report(e)
        assert rep.flush(timeout=60) == 0
        dead = rep.delivery.spool.dead()
    finally:
        rep.close()
        srv.stop()
    assert [d[0] for d in dead] == [bad.id] and dead[0][1] == 403
    n, _, ids = stored(sqlite_url)
    assert ids == {e.id for e in good}
