"""Event ingest (reporters) and event reading (the user concerned, reviewers)."""
from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException

from .. import crud
from ..ingest import ingest
from ..deps import DBDep, PersonDep, Principal, PrincipalDep, ServiceDep, scope
from ..schemas import AppealIn, AppealOut, EventIn, EventOut, IngestResult
from .appeals import open_appeal
from .views import appeal_out, event_out

router = APIRouter(prefix="/api", tags=["events"])
Reporter = Annotated[Principal, Depends(scope("events:write"))]


@router.post("/events", response_model=IngestResult)
def post_events(svc: ServiceDep, db: DBDep, p: Reporter,
                body: Annotated[EventIn | list[EventIn], Body(description="one event or a list of them")]) -> IngestResult:
    """Store events. Idempotent by event id: a retried report is answered as a duplicate and
    never counted twice. A token bound to a user may only report that user's events (a
    kernel's environment never names the user: the token does)."""
    start = time.perf_counter()
    events = body if isinstance(body, list) else [body]
    if len(events) > svc.settings.max_batch:
        raise HTTPException(413, f"at most {svc.settings.max_batch} events per request")
    tok = p.token
    for e in events:
        if tok.bound_user is not None:
            if e.user is None:
                e.user = tok.bound_user
            elif e.user != tok.bound_user:
                raise HTTPException(403, f"this token reports for {tok.bound_user!r} only; event {e.id} names {e.user!r}")
        if tok.bound_server is not None:
            if e.server is None:
                e.server = tok.bound_server
            elif e.server != tok.bound_server:
                raise HTTPException(403, f"this token reports for server {tok.bound_server!r} only")
    res = ingest(db, events=events, reporter=tok, policy=svc.policy)
    db.commit()
    for (category, action), n in Counter((e.category or "none", e.action) for e in res.stored).items():
        svc.metrics.events.labels(category, action).inc(n)
    svc.metrics.duplicates.inc(res.duplicates)
    svc.metrics.strikes.inc(res.strikes)
    svc.after_standing_changes(res.standing_changes)
    svc.metrics.ingest_seconds.observe(time.perf_counter() - start)
    return IngestResult(accepted=res.accepted, duplicates=res.duplicates, strikes=res.strikes)


def visible_event(db, p: Principal, event_id: str):
    """The event when the caller may see it: its user, or a reviewer. Others get 404, API
    tokens 403 (reporters write events, they do not read them back)."""
    if p.user is None:
        raise HTTPException(403, "API tokens cannot read events")
    ev = crud.get_event(db, event_id=event_id)
    if ev is None or not (p.is_reviewer or (ev.user is not None and ev.user.name == p.user.name)):
        raise HTTPException(404, "no such event")
    return ev


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(db: DBDep, p: PrincipalDep, event_id: str) -> EventOut:
    """One event with its evidence and rules (its user or a reviewer)."""
    ev = visible_event(db, p, event_id)
    return event_out(ev, crud.strike_status(db, event_ids=[ev.id]).get(ev.id))


@router.post("/events/{event_id}/appeal", response_model=AppealOut, status_code=201)
def appeal_event(svc: ServiceDep, db: DBDep, p: PersonDep, event_id: str, body: AppealIn) -> AppealOut:
    """Appeal an event of one's own, with a message for the reviewer."""
    return appeal_out(open_appeal(svc, db, user=p.user, event_id=event_id, message=body.message))
