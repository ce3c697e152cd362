""""Run anyway" override tokens.

The server issues a token when it warns about a cell; the front end resends the cell with
``metadata.nbwarden = {"override": token}``. A token is an HMAC-SHA256 over the kernel id,
sha256(code), its expiry and a random nonce, under a server secret; it works for exactly
that code on exactly that kernel, once, before it expires. The nonce is what makes "once"
mean once per warning: two warnings about the same code yield two different tokens.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

_PREFIX = "nbw1"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


class OverrideTokens:
    def __init__(self, secret: bytes | str | None = None, ttl: float = 120.0, clock=time.time):
        if not secret:
            secret = secrets.token_bytes(32)
        self._key = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.ttl = ttl
        self._clock = clock
        self._used: dict[str, float] = {}  # nonce -> expiry, kept until the token would expire anyway
        self._issued: OrderedDict[tuple[str, str], str] = OrderedDict()  # (kernel, code hash) -> newest nonce
        self._lock = threading.Lock()

    def issue(self, kernel_id: str, digest: str) -> str:
        expiry = int(self._clock() + self.ttl)
        nonce = secrets.token_hex(12)
        with self._lock:
            self._issued[(kernel_id, digest)] = nonce
            self._issued.move_to_end((kernel_id, digest))
            while len(self._issued) > 4096:
                self._issued.popitem(last=False)
        return f"{_PREFIX}.{expiry}.{nonce}.{self._mac(kernel_id, digest, expiry, nonce)}"

    def redeem(self, token: object, kernel_id: str, digest: str) -> tuple[str | None, str]:
        """(nonce, "") when the token is valid for this kernel and code and unused (it is then
        used up), else (None, reason)."""
        if not isinstance(token, str) or len(token) > 256:
            return None, "the override token is malformed"
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != _PREFIX or not parts[1].isdigit():
            return None, "the override token is malformed"
        _, exp, nonce, mac = parts
        expiry = int(exp)
        if not hmac.compare_digest(mac, self._mac(kernel_id, digest, expiry, nonce)):
            return None, "the override token is not valid for this code on this kernel"
        now = self._clock()
        if now > expiry:
            return None, "the override token has expired; run the cell again to be asked again"
        with self._lock:
            for n, e in [(n, e) for n, e in self._used.items() if e < now]:
                del self._used[n]
            if nonce in self._used:
                return None, "the override token was already used; each one works once"
            self._used[nonce] = expiry
        return nonce, ""

    def latest_nonce(self, kernel_id: str, digest: str) -> str | None:
        with self._lock:
            return self._issued.get((kernel_id, digest))

    def _mac(self, kernel_id: str, digest: str, expiry: int, nonce: str) -> str:
        msg = f"{kernel_id}\0{digest}\0{expiry}\0{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()
