"""The local event store: one SQLite file, append-only, idempotent by event id."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from ..events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, time TEXT NOT NULL, source TEXT, outcome TEXT, action TEXT, user TEXT,
  server TEXT, kernel TEXT, category TEXT, content_hash TEXT, attribution TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user_time ON events(user, time);
"""


def default_path() -> Path:
    base = os.environ.get("NBWARDEN_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "nbwarden")
    return Path(base) / "events.sqlite"


class LocalStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def add(self, e: Event, body: str) -> bool:
        """Store ``e``, whose JSON is ``body`` (the reporter encodes it once for the store and
        the spool). True when stored, False when that event id was already there."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (e.id, e.time, e.source, e.outcome, e.action, e.user, e.server, e.kernel, e.category,
                 e.content_hash, e.attribution, body))
            return cur.rowcount == 1

    def recent(self, user: str | None = None, limit: int = 100) -> list[Event]:
        q, args = "SELECT body FROM events", []
        if user is not None:
            q += " WHERE user = ?"
            args.append(user)
        q += " ORDER BY time DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(q, args).fetchall()
        return [Event.from_dict(json.loads(b)) for (b,) in rows]

    def strike_times(self, user: str) -> list[datetime]:
        return [datetime.fromisoformat(e.time) for e in self.recent(user, limit=1000) if e.counts_against_user]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM events").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
