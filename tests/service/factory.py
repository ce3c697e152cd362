"""Events as reporters send them: built with the real ``nbwarden.events.Event`` and, where
it matters, real engine findings."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from nbwarden.engine import Engine
from nbwarden.events import Event


def event(user: str | None = "ada", outcome: str = "blocked", action: str = "block", category: str = "mining",
          attribution: str = "user", content_hash: str | None = None, time: datetime | None = None, **kw) -> dict:
    e = Event(source=kw.pop("source", "jupyter"), outcome=outcome, action=action, user=user, server=kw.pop("server", None),
              category=category, confidence=0.9, rules=["NBW201"], attribution=attribution,
              content_hash=content_hash or uuid.uuid4().hex, **kw)
    if time is not None:
        e.time = time.isoformat()
    return e.to_dict()


def mining_event(user: str = "ada", outcome: str = "terminated") -> dict:
    """A watcher event carrying the engine's real findings for a miner command line."""
    report = Engine.default().check_command("xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u wallet")
    f = report.findings
    return Event(source="watcher", outcome=outcome, action="terminate", user=user, server="", kernel="4242",
                 tier="free", category="mining", confidence=max(x.confidence for x in f),
                 rules=sorted({x.rule_id for x in f}), content_hash=f[0].content_hash,
                 findings=[x.to_dict() for x in f]).to_dict()


def days_ago(n: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=n)
