"""The event every enforcement layer reports: one decision about one piece of code or one
process. The Jupyter server, the kernel extension and the watcher make these; the local
store and the policy service keep them. ``id`` makes delivery idempotent: a retried report
is never counted twice."""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

#: What happened, as recorded: the user-facing outcome of a decision.
OUTCOMES = ("logged", "warned", "cancelled", "ran-anyway", "blocked", "terminated", "stopped", "reported")
SOURCES = ("jupyter", "kernel", "watcher", "scan", "hub")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Event:
    source: str  # one of SOURCES
    outcome: str  # one of OUTCOMES
    action: str  # the policy action that applied (allow/log/warn/block/terminate)
    user: str | None = None
    server: str | None = None  # JupyterHub server name, pod or host
    kernel: str | None = None  # kernel id, or pid for the watcher
    tier: str | None = None
    category: str | None = None
    confidence: float = 0.0
    rules: list[str] = field(default_factory=list)
    content_hash: str | None = None  # the cell's or command line's hash
    findings: list[dict[str, Any]] = field(default_factory=list)  # Finding.to_dict() items
    attribution: str = "user"  # "user" or "dependency:<package>==<version>"
    detail: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: str = field(default_factory=lambda: utcnow().isoformat())

    @classmethod
    def of_decision(cls, decision, *, source: str, outcome: str, **fields: Any) -> "Event":
        """An event recording a policy decision (``nbwarden.policy.Decision``): its action,
        tier, category, confidence, rules and findings; ``fields`` add or override the rest."""
        return cls(**{"source": source, "outcome": outcome, "action": decision.action, "tier": decision.tier,
                      "category": decision.category, "confidence": round(decision.confidence, 3),
                      "rules": sorted({f.rule_id for f in decision.findings}),
                      "findings": [f.to_dict() for f in decision.findings], **fields})

    @property
    def counts_against_user(self) -> bool:
        """Dependency compromise never counts against the user; neither do mere logs."""
        return not self.attribution.startswith("dependency:") and self.outcome in (
            "ran-anyway", "blocked", "terminated", "stopped")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)
