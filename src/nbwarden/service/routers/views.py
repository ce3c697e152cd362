"""Rows to response bodies, shared by the routers."""
from __future__ import annotations

from .. import models as m
from ..models import utcnow
from ..schemas import AppealOut, EventOut


def event_out(ev: m.Event, strike: str | None) -> EventOut:
    return EventOut(id=ev.id, time=ev.time, received_at=ev.received_at, user=ev.user.name if ev.user else None,
                    source=ev.source, outcome=ev.outcome, action=ev.action, server=ev.server, kernel=ev.kernel,
                    tier=ev.tier, category=ev.category, confidence=ev.confidence, rules=ev.rules or [],
                    content_hash=ev.content_hash, findings=ev.findings or [], attribution=ev.attribution,
                    detail=ev.detail or {}, strike=strike)


def appeal_out(a: m.Appeal) -> AppealOut:
    end = a.decided_at or utcnow()
    return AppealOut(id=a.id, user=a.user.name, event_id=a.event_id, message=a.message, status=a.status,
                     created_at=a.created_at, decided_at=a.decided_at,
                     age_seconds=round((end - a.created_at).total_seconds(), 3))
