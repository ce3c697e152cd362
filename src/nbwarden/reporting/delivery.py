"""Delivery of events to the policy service: a disk spool and a sender thread.

Exactly once, from the service's point of view: every event is written to the spool (a
SQLite file, synchronous) before anything is sent; it leaves the spool only after the
service acknowledged it (2xx). A crash, a lost answer or a service that is away means the
event is sent again later, and the service stores each event id once, so a retried report
is answered as a duplicate and never counted twice.

Retries back off exponentially (``backoff * 2**n`` up to ``max_backoff`` seconds, with
jitter) on connection errors, 429, 5xx and 401 (a token being rotated). A batch the service
refuses as a whole (413/422/403) is split and sent event by event; an event refused on its
own is moved to the spool's ``dead`` table (kept on disk, logged), never silently dropped.
Spooled events from an earlier run are drained when the next one starts.
"""
from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx


log = logging.getLogger("nbwarden.reporting")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead (id TEXT PRIMARY KEY, body TEXT NOT NULL, status INTEGER, reason TEXT, time REAL);
"""


_JSON = {"Content-Type": "application/json"}


class Spool:
    """The on-disk queue of events not yet acknowledged by the service."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def put(self, event_id: str, body: str) -> None:
        """Spool one event, ``body`` being its JSON (encoded once by the reporter)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO spool (id, body) VALUES (?, ?)", (event_id, body))

    def peek(self, n: int) -> list[tuple[str, str]]:
        """The oldest ``n`` spooled events: (id, JSON text), sent as they were spooled."""
        with self._lock:
            return self._db.execute("SELECT id, body FROM spool ORDER BY seq LIMIT ?", (n,)).fetchall()

    def remove(self, ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])

    def bury(self, event_id: str, body: str, status: int, reason: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO dead VALUES (?,?,?,?,?)",
                             (event_id, body, status, reason[:500], time.time()))
            self._db.execute("DELETE FROM spool WHERE id = ?", (event_id,))

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM spool").fetchone()[0]

    def dead(self) -> list[tuple[str, int, str]]:
        with self._lock:
            return self._db.execute("SELECT id, status, reason FROM dead ORDER BY time").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Delivery:
    """Sends spooled events to ``POST <service_url>/api/events`` in batches."""

    def __init__(self, spool: Spool, service_url: str, token: str | None, *, batch: int = 200,
                 backoff: float = 0.5, max_backoff: float = 60.0, timeout: float = 10.0):
        self.spool, self.url = spool, service_url.rstrip("/") + "/api/events"
        self.batch, self.backoff, self.max_backoff = batch, backoff, max_backoff
        self._client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"} if token else {})
        self._wake = threading.Event()
        self._stop = False
        self._stopped = threading.Event()
        self._failures = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="nbwarden-delivery", daemon=True)
        self._thread.start()

    def enqueue(self, event_id: str, body: str) -> None:
        self.spool.put(event_id, body)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            try:
                sent = self._send_some()
            except Exception as e:  # never let the sender die: log, back off, try again
                log.error("nbwarden: delivery error: %s", e)
                sent = -1
            if sent > 0:
                self._failures = 0
            elif sent < 0:  # back off; new events do not cut the wait short
                self._failures += 1
                delay = min(self.max_backoff, self.backoff * 2 ** (self._failures - 1)) * random.uniform(0.8, 1.2)
                self._stopped.wait(timeout=delay)
            else:  # idle: wake on a new event, or look again now and then
                self._wake.wait(timeout=5.0)
                self._wake.clear()

    def _send_some(self) -> int:
        """Send one batch: >0 delivered, 0 nothing to send, <0 failed (retry later)."""
        items = self.spool.peek(self.batch)
        if not items:
            return 0
        status, reason = self._post("[" + ",".join(b for _, b in items) + "]")
        if status is not None and 200 <= status < 300:
            self.spool.remove([i for i, _ in items])
            self.delivered += len(items)
            return len(items)
        if status in (403, 413, 422):
            return self._one_by_one(items)
        log.warning("nbwarden: policy service did not take %d events (%s); will retry", len(items), reason)
        return -1

    def _one_by_one(self, items: list[tuple[str, str]]) -> int:
        done = 0
        for event_id, body in items:
            status, reason = self._post(body)
            if status is not None and 200 <= status < 300:
                self.spool.remove([event_id])
                done += 1
            elif status in (403, 413, 422):
                log.error("nbwarden: the policy service refused event %s (%s %s); kept in the spool's dead table",
                          event_id, status, reason)
                self.spool.bury(event_id, body, status, reason)
                done += 1
            else:
                return done or -1
        self.delivered += done
        return done

    def _post(self, payload: str) -> tuple[int | None, str]:
        """POST JSON text (one event, or a list of them) as it was spooled: not decoded and
        encoded again."""
        try:
            r = self._client.post(self.url, content=payload.encode(), headers=_JSON)
        except httpx.HTTPError as e:
            return None, f"{type(e).__name__}: {e}"
        return r.status_code, r.text[:300]

    def flush(self, timeout: float = 5.0) -> int:
        """Wait until the spool is empty or the timeout passes; the events still waiting."""
        end = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < end:
            n = self.spool.pending()
            if n == 0:
                return 0
            time.sleep(0.02)
            self._wake.set()
        return self.spool.pending()

    def close(self) -> None:
        self._stop = True
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=15)
        self._client.close()
