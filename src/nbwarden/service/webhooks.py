"""Signed alert webhooks. Each POST carries the JSON body and

    X-NBWarden-Event: user.suspended
    X-NBWarden-Delivery: <uuid>            (the same on every retry: receivers dedupe on it)
    X-NBWarden-Timestamp: <unix seconds>
    X-NBWarden-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the webhook secret>

Receivers check the signature with ``verify`` and refuse old timestamps (replays). Failed
deliveries (connection error or non-2xx) are retried with exponential backoff."""
from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Any

import httpx

from .background import Background
from .security import sign


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + sign(secret, timestamp.encode() + b"." + body)


def verify(secret: str, headers: dict[str, str], body: bytes, max_age: float = 300.0, now: float | None = None) -> bool:
    h = {k.lower(): v for k, v in headers.items()}
    ts = h.get("x-nbwarden-timestamp", "")
    try:
        age = (now or time.time()) - float(ts)
    except ValueError:
        return False
    if abs(age) > max_age:
        return False
    return hmac.compare_digest(h.get("x-nbwarden-signature", ""), signature(secret, ts, body))


class Webhooks:
    def __init__(self, urls: list[str], secret: str, background: Background, timeout: float = 5.0):
        self.urls, self.secret, self.background, self.timeout = list(urls), secret, background, timeout

    def send(self, kind: str, data: dict[str, Any]) -> None:
        for url in self.urls:
            delivery = uuid.uuid4().hex
            body = json.dumps({"kind": kind, "delivery": delivery, "data": data}, default=str).encode()
            self.background.submit(f"webhook {kind} -> {url}", lambda url=url, body=body, d=delivery, k=kind:
                                   self._post(url, body, d, k))

    def _post(self, url: str, body: bytes, delivery: str, kind: str) -> None:
        ts = str(int(time.time()))  # re-signed on each try so a slow retry is not refused as stale
        r = httpx.post(url, content=body, timeout=self.timeout, headers={
            "Content-Type": "application/json", "X-NBWarden-Event": kind, "X-NBWarden-Delivery": delivery,
            "X-NBWarden-Timestamp": ts, "X-NBWarden-Signature": signature(self.secret, ts, body)})
        if r.status_code >= 300:
            raise RuntimeError(f"{url} answered {r.status_code}")
