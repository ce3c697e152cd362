"""API tokens a worker has checked recently, so a reporter's steady stream of batches costs
no token query each (the query and its SQLAlchemy round trip were the largest fixed cost
of a small batch).

Only tokens found valid are kept, for ``token_cache_seconds``; a forged or unknown token is
looked up every time and never fills the cache. Revoking a token forgets it at once in the
worker that revoked it; every other worker stops accepting it within ``token_cache_seconds``
(the same trade JupyterHub's own token cache makes, with minutes instead of seconds).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from . import models as m
from .security import hash_token


@dataclass(frozen=True)
class TokenInfo:
    """What a request needs to know about the token that authenticated it: a frozen copy,
    safe to share between threads (an ORM row is tied to the session that loaded it)."""
    id: int
    name: str
    scopes: tuple[str, ...]
    bound_user: str | None
    bound_server: str | None

    @classmethod
    def of(cls, row: m.ApiToken) -> "TokenInfo":
        return cls(row.id, row.name, tuple(row.scopes or ()), row.bound_user, row.bound_server)


class TokenCache:
    def __init__(self, seconds: float, clock=time.monotonic, max_entries: int = 10_000):
        self.seconds, self.clock, self.max_entries = seconds, clock, max_entries
        self._entries: dict[str, tuple[float, TokenInfo]] = {}  # token hash -> (expires, info)
        self._lock = threading.Lock()

    def get(self, plain: str) -> TokenInfo | None:
        """The token's info when it was found valid less than ``seconds`` ago, else None."""
        key = hash_token(plain)
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= self.clock():
                del self._entries[key]
                return None
            return hit[1]

    def put(self, plain: str, info: TokenInfo) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # far more tokens than any fleet has: start over rather than grow
            self._entries[hash_token(plain)] = (self.clock() + self.seconds, info)

    def forget(self, token_id: int) -> None:
        with self._lock:
            for key in [k for k, (_, info) in self._entries.items() if info.id == token_id]:
                del self._entries[key]
