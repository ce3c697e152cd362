"""Event ingest, the service's hot path: a batch of reported events becomes event rows,
strikes, audit rows and (when a user's standing moves) a notification, exactly once however
often the batch is delivered and however many service processes receive batches at once.

Rules (the same on every database): an id already stored is a duplicate (a retry) and is
not counted again; an event becomes a strike when it counts against its user
(``nbwarden.events.Event.counts_against_user``) and its content hash is not allowlisted;
every strike is audited; a standing transition is audited and notified once.

On PostgreSQL a batch costs one round trip: a transaction-scoped advisory lock on the names
of the users who may get a strike, pipelined with one statement (data-modifying CTEs create
the missing users and store events, strikes and their audit rows, and return the strike
times standing needs); a standing transition adds one more statement. The lock serialises
concurrent batches for the same user, so each computes standing from the strikes of the one
before it: one notification per transition, from any number of workers. It is taken on the
*name*, so it also holds for a user no batch has created yet. Both statements go through
the session's own psycopg connection, inside its transaction (the caller commits):
SQLAlchemy's execution machinery cost more CPU than building and running the statement.
Elsewhere (SQLite, one writer at a time) the same rules run as a few portable statements.
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

import orjson
import psycopg
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as DB

from ..events import Event as EventShape
from ..policy import Policy, Standing
from . import models as m
from .crud import allowlisted, ensure_users, insert_for, token_actor
from .models import utcnow
from .schemas import EventIn
from .tokens import TokenInfo

FUTURE_SLACK = timedelta(minutes=5)  # a reporter's clock may run a little fast, no more
_EVENTS_JSON = TypeAdapter(list[EventIn])
_counts_against_user = EventShape.counts_against_user.fget  # reads .outcome and .attribution only


@dataclass
class Ingested:
    accepted: int = 0
    duplicates: int = 0
    strikes: int = 0
    stored: list[EventIn] = field(default_factory=list)
    standing_changes: dict[str, tuple[str, Standing]] = field(default_factory=dict)  # user -> (before, after)


@dataclass
class _Written:
    """What one store call did: event ids inserted, ids left for another try (their user
    was created by a concurrent request not yet visible to this statement), and per user
    id the strikes just given and the active strikes in the window before them."""
    stored: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
    given: dict[int, list[tuple[str, datetime]]] = field(default_factory=lambda: defaultdict(list))
    prior: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))


def ingest(db: DB, *, events: list[EventIn], reporter: TokenInfo | None, policy: Policy,
           now: datetime | None = None) -> Ingested:
    """Store a batch of events (see the module docstring for the rules). The caller commits;
    until then the names of the users who may get strikes stay locked (PostgreSQL)."""
    now = now or utcnow()
    out = Ingested()
    by_id: dict[str, EventIn] = {}
    for e in events:  # the same id twice in one batch is a duplicate too
        if e.id in by_id:
            out.duplicates += 1
        else:
            by_id[e.id] = e
    counting = {i for i, e in by_id.items() if e.user and _counts_against_user(e)}
    pg = db.get_bind().dialect.name == "postgresql"
    store = _store_pg if pg else _store_portable
    written, pending = _Written(), list(by_id.values())
    for _ in range(3):  # a second pass only for users a concurrent request created meanwhile (PostgreSQL)
        w = store(db, events=pending, counting=counting, reporter=reporter, policy=policy, now=now)
        written.stored |= w.stored
        for uid, given in w.given.items():  # a user is resolved in one pass only
            written.given[uid] = given
            written.prior[uid] = w.prior.get(uid, [])
        pending = [by_id[i] for i in w.unresolved]
        if not pending:
            break
    else:
        raise RuntimeError(f"users of events {[e.id for e in pending][:5]} could not be created")

    out.stored = [e for i, e in by_id.items() if i in written.stored]
    out.accepted = len(out.stored)
    out.duplicates += len(by_id) - out.accepted
    out.strikes = sum(len(g) for g in written.given.values())
    changes = []
    for uid, given in written.given.items():
        name = by_id[given[0][0]].user
        prior = written.prior[uid]
        before = policy.standing(prior, now)
        after = policy.standing(prior + [t for _, t in given], now)
        if after.standing != before.standing:
            out.standing_changes[name] = (before.standing, after)
            changes.append({"user_id": uid, "subject": f"user:{name}",
                            "detail": {"from": before.standing, "to": after.standing, "strikes": after.strikes,
                                       "policy_version": policy.version},
                            "message": f"Your standing is now {after.standing}: {after.consequence}"})
    if changes:
        (_record_changes_pg if pg else _record_changes_portable)(db, changes=changes, now=now)
    return out


# -- PostgreSQL: one round trip per batch ---------------------------------------------------------
USER_LOCK_SPACE = 0x6E6277  # "nbw": the first key of our advisory locks, apart from other applications'

_PG_LOCK_USERS = """
SELECT pg_advisory_xact_lock(%(space)s, h)
FROM (SELECT DISTINCT hashtext(n) AS h FROM unnest(CAST(%(names)s AS text[])) AS n ORDER BY 1) AS k
"""
"""A lock per user name, held until the transaction ends, taken in one global order (no
deadlock between batches). Two names with the same hash only wait for each other."""

_PG_STORE = """
WITH batch AS (
    SELECT b.*, LEAST(b.time, %(latest)s) AS at
    FROM json_to_recordset(CAST(%(events)s AS json)) AS b(
        id varchar, time timestamptz, source varchar, outcome varchar, action varchar, "user" varchar,
        server varchar, kernel varchar, tier varchar, category varchar, confidence float8, rules json,
        content_hash varchar, findings json, attribution varchar, detail json)
),
names AS (SELECT DISTINCT "user" AS name FROM batch WHERE "user" IS NOT NULL),
known AS (SELECT u.id, u.name FROM users u JOIN names n ON n.name = u.name),
created AS (
    INSERT INTO users (name, role, created_at)
    SELECT name, 'user', %(now)s FROM names WHERE name NOT IN (SELECT name FROM known) ORDER BY name
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name
),
ids AS (SELECT id, name FROM known UNION ALL SELECT id, name FROM created),
stored AS (
    INSERT INTO events (id, time, received_at, user_id, source, outcome, action, server, kernel, tier,
                        category, confidence, rules, content_hash, findings, attribution, detail, reporter_id)
    SELECT b.id, b.at, %(now)s, ids.id, b.source, b.outcome, b.action, b.server, b.kernel, b.tier,
           b.category, b.confidence, b.rules, b.content_hash, b.findings, b.attribution, b.detail, %(reporter)s
    FROM batch b LEFT JOIN ids ON ids.name = b."user"
    WHERE b."user" IS NULL OR ids.id IS NOT NULL
    ORDER BY b.id
    ON CONFLICT (id) DO NOTHING
    RETURNING id, user_id
),
struck AS (
    INSERT INTO strikes (user_id, event_id, time, status)
    SELECT s.user_id, b.id, b.at, %(active)s
    FROM stored s JOIN batch b ON b.id = s.id
    WHERE b.id = ANY(CAST(%(counting)s AS text[])) AND s.user_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM allowlist a WHERE a.content_hash = b.content_hash)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING user_id, event_id, time
),
audited AS (
    INSERT INTO audit_log (time, actor, action, subject, detail)
    SELECT %(now)s, %(actor)s, 'strike.give', 'user:' || b."user",
           json_build_object('event', b.id, 'category', b.category, 'outcome', b.outcome, 'rules', b.rules)
    FROM struck k JOIN batch b ON b.id = k.event_id
)
SELECT 'stored' AS kind, id AS event_id, NULL::int AS user_id, NULL::timestamptz AS time FROM stored
UNION ALL
SELECT 'unresolved', b.id, NULL, NULL FROM batch b LEFT JOIN ids ON ids.name = b."user"
    WHERE b."user" IS NOT NULL AND ids.id IS NULL
UNION ALL
SELECT 'given', event_id, user_id, time FROM struck
UNION ALL
SELECT 'prior', NULL, s.user_id, s.time FROM strikes s
    WHERE s.user_id IN (SELECT user_id FROM struck) AND s.status = %(active)s AND s.time >= %(since)s
"""
"""Sub-statements share one snapshot, so ``prior`` (strikes already committed) never
includes the strikes ``struck`` inserts. The snapshot is taken after ``_PG_LOCK_USERS``
returned, so it holds every strike of the batches that locked these names before. A user
that a concurrent batch created but has not committed is not in the snapshot: the insert
here waits for that batch, then skips the name, and its events are left (``unresolved``)
for a second pass, whose new snapshot sees the user (the lock is still held). Users and
events are inserted in name and id order, so two batches that overlap (a retry sent while
the first try is still running) wait for each other instead of deadlocking."""

_PG_RECORD_CHANGES = """
WITH c AS (
    SELECT * FROM json_to_recordset(CAST(%(changes)s AS json))
        AS c(user_id int, subject varchar, detail json, message text)
),
audited AS (
    INSERT INTO audit_log (time, actor, action, subject, detail)
    SELECT %(now)s, 'system', 'standing.change', subject, detail FROM c
)
INSERT INTO notifications (user_id, kind, message, link, created_at)
SELECT user_id, 'standing', message, '/me', %(now)s FROM c
"""
"""Each standing transition: an audit row and a notification for the user, one statement."""


@contextmanager
def _driver(db: DB) -> Iterator[psycopg.Connection]:
    """The session's psycopg connection, inside the session's transaction. Its errors are
    raised as SQLAlchemy raises them (so the service answers 503, which reporters retry),
    and a lost connection (the database restarted) makes the pool start over, as SQLAlchemy
    does on a disconnect, instead of failing one request per stale pooled connection."""
    sa = db.connection()
    try:
        yield sa.connection.driver_connection
    except psycopg.Error as e:
        lost = sa.dialect.is_disconnect(e, sa.connection.dbapi_connection, None)
        if lost:
            sa.invalidate(e)
            sa.engine.dispose(close=False)
        raise DBAPIError.instance(None, None, e, psycopg.Error, connection_invalidated=lost, dialect=sa.dialect) from e


def _store_pg(db: DB, *, events: list[EventIn], counting: set[str], reporter: TokenInfo | None, policy: Policy,
              now: datetime) -> _Written:
    names = sorted({e.user for e in events if e.id in counting})
    with _driver(db) as conn, conn.pipeline():  # the lock and the statement in one round trip
        if names:
            conn.execute(_PG_LOCK_USERS, {"space": USER_LOCK_SPACE, "names": names})
        cur = conn.execute(_PG_STORE, {
            "events": _EVENTS_JSON.dump_json(events).decode(), "counting": [e.id for e in events if e.id in counting],
            "now": now, "latest": now + FUTURE_SLACK, "since": now - policy.window, "active": m.STRIKE_ACTIVE,
            "reporter": reporter.id if reporter else None, "actor": token_actor(reporter)})
        rows = cur.fetchall()
    w = _Written()
    for kind, event_id, user_id, time in rows:
        if kind == "stored":
            w.stored.add(event_id)
        elif kind == "given":
            w.given[user_id].append((event_id, time))
        elif kind == "prior":
            w.prior[user_id].append(time)
        else:
            w.unresolved.append(event_id)
    return w


def _record_changes_pg(db: DB, *, changes: list[dict[str, Any]], now: datetime) -> None:
    with _driver(db) as conn:
        conn.execute(_PG_RECORD_CHANGES, {"changes": orjson.dumps(changes).decode(), "now": now})


# -- elsewhere (SQLite): portable statements ------------------------------------------------------
def _store_portable(db: DB, *, events: list[EventIn], counting: set[str], reporter: TokenInfo | None,
                    policy: Policy, now: datetime) -> _Written:
    """The same rules in portable statements. Exact because SQLite has one writer at a
    time: the strike times are read after this transaction's first write, so no other
    batch can commit strikes between that read and this commit."""
    uids = ensure_users(db, names=[e.user for e in events if e.user])
    latest = now + FUTURE_SLACK
    rid = reporter.id if reporter else None
    rows = [{"id": e.id, "time": min(e.time, latest), "received_at": now,
             "user_id": uids.get(e.user) if e.user else None, "source": e.source, "outcome": e.outcome,
             "action": e.action, "server": e.server, "kernel": e.kernel, "tier": e.tier, "category": e.category,
             "confidence": e.confidence, "rules": e.rules, "content_hash": e.content_hash, "findings": e.findings,
             "attribution": e.attribution, "detail": e.detail, "reporter_id": rid} for e in events]
    w = _Written(stored=_insert_events(db, rows=rows, now=now, reporter_id=rid))
    fresh = [e for e in events if e.id in w.stored and e.id in counting]
    safe = allowlisted(db, hashes=[e.content_hash for e in fresh])
    striking = [e for e in fresh if e.content_hash not in safe]
    if not striking:
        return w
    for e in striking:
        w.given[uids[e.user]].append((e.id, min(e.time, latest)))
    for uid, t in db.execute(select(m.Strike.user_id, m.Strike.time).where(
            m.Strike.user_id.in_(list(w.given)), m.Strike.status == m.STRIKE_ACTIVE,
            m.Strike.time >= now - policy.window)).all():
        w.prior[uid].append(t)
    db.execute(insert_for(db, m.Strike.__table__).on_conflict_do_nothing(index_elements=["event_id"]),
               [{"user_id": uids[e.user], "event_id": e.id, "time": min(e.time, latest), "status": m.STRIKE_ACTIVE}
                for e in striking])
    actor = token_actor(reporter)
    db.execute(m.AuditEntry.__table__.insert(), [
        {"time": now, "actor": actor, "action": "strike.give", "subject": f"user:{e.user}",
         "detail": {"event": e.id, "category": e.category, "outcome": e.outcome, "rules": e.rules}}
        for e in striking])
    return w


def _record_changes_portable(db: DB, *, changes: list[dict[str, Any]], now: datetime) -> None:
    db.execute(m.AuditEntry.__table__.insert(), [
        {"time": now, "actor": "system", "action": "standing.change", "subject": c["subject"], "detail": c["detail"]}
        for c in changes])
    db.execute(m.Notification.__table__.insert(), [
        {"user_id": c["user_id"], "kind": "standing", "link": "/me", "created_at": now, "message": c["message"]}
        for c in changes])


def _insert_events(db: DB, *, rows: list[dict[str, Any]], now: datetime, reporter_id: int | None) -> set[str]:
    """Insert event rows, skipping ids already stored; the ids this call inserted. When the
    row count shows a concurrent request stored some ids first, ours are found exactly by
    this request's ``received_at`` and reporter."""
    if not rows:
        return set()
    known = set(db.scalars(select(m.Event.id).where(m.Event.id.in_([r["id"] for r in rows]))))
    rows = [r for r in rows if r["id"] not in known]
    if not rows:
        return set()
    n = db.execute(insert_for(db, m.Event.__table__).on_conflict_do_nothing(index_elements=["id"]), rows).rowcount
    if n == len(rows):
        return {r["id"] for r in rows}
    return set(db.scalars(select(m.Event.id).where(m.Event.id.in_([r["id"] for r in rows]),
                                                   m.Event.received_at == now, m.Event.reporter_id == reporter_id)))
