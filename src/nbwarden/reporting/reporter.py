"""The one object enforcement points report through: always the local store, and the policy
service too when one is configured (``delivery``: disk spool, retries, exactly once)."""
from __future__ import annotations

import json
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
        self.delivery = None
        if service_url:
            from .delivery import Delivery, Spool  # needs httpx (the service extra)
            spool = Spool(store.path.with_name(store.path.stem + ".spool.sqlite"))
            self.delivery = Delivery(spool, service_url, token)

    @classmethod
    def from_config(cls, store_path=None, service_url: str | None = None, token: str | None = None) -> "Reporter":
        return cls(LocalStore(store_path), service_url, token)

    def report(self, event: Event) -> None:
        """Record the event; never raises (a full disk or a locked database is logged, and
        the enforcement decision itself still stands). Encoded once, for the store and the
        spool alike."""
        body = json.dumps(event.to_dict())
        try:
            self.store.add(event, body)
        except (sqlite3.Error, OSError) as e:
            log.error("nbwarden: could not record event %s locally: %s", event.id, e)
        if self.delivery is not None:
            try:
                self.delivery.enqueue(event.id, body)
            except (sqlite3.Error, OSError) as e:
                log.error("nbwarden: could not spool event %s for the policy service: %s", event.id, e)

    def recent(self, user: str | None = None, limit: int = 100) -> list[Event]:
        return self.store.recent(user, limit)

    def strike_times(self, user: str) -> list[datetime]:
        return self.store.strike_times(user)

    def flush(self, timeout: float = 5.0) -> int:
        """Wait for the policy service to acknowledge what is spooled; returns the number of
        events still waiting (0: all delivered, or no service configured)."""
        return self.delivery.flush(timeout) if self.delivery is not None else 0

    def close(self) -> None:
        """Stop sending (what is not delivered stays spooled for the next start)."""
        if self.delivery is not None:
            self.delivery.close()
            self.delivery.spool.close()
        self.store.close()
