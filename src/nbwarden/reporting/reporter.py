"""The one object enforcement points report through."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

from ..events import Event
from .store import LocalStore

log = logging.getLogger("nbwarden.reporting")


class Reporter:
    def __init__(self, store: LocalStore, service_url: str | None = None, token: str | None = None):
        self.store = store
        self.service_url = service_url
        self.token = token

    @classmethod
    def from_config(cls, store_path=None, service_url: str | None = None, token: str | None = None) -> "Reporter":
        return cls(LocalStore(store_path), service_url, token)

    def report(self, event: Event) -> None:
        """Record the event; never raises (a full disk or a locked database is logged, and
        the enforcement decision itself still stands)."""
        try:
            self.store.add(event)
        except (sqlite3.Error, OSError) as e:
            log.error("nbwarden: could not record event %s locally: %s", event.id, e)

    def recent(self, user: str | None = None, limit: int = 100) -> list[Event]:
        return self.store.recent(user, limit)

    def strike_times(self, user: str) -> list[datetime]:
        return self.store.strike_times(user)

    def flush(self, timeout: float = 5.0) -> int:
        return 0

    def close(self) -> None:
        self.store.close()
