"""Event ingest (reporters) and event reading (the user concerned, reviewers)."""
from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from .. import crud
from ..context import Service
from ..ingest import Ingested, ingest
from ..deps import DBDep, PersonDep, Principal, PrincipalDep, ServiceDep, token_scope
from ..schemas import AppealIn, AppealOut, EventIn, EventOut, IngestResult
from ..tokens import TokenInfo
from .appeals import open_appeal
from .views import appeal_out, event_out

router = APIRouter(prefix="/api", tags=["events"])
Reporter = Annotated[Principal, Depends(token_scope("events:write"))]


_ONE = TypeAdapter(EventIn)
_MANY = TypeAdapter(list[EventIn])
_BODY_DOC = {"requestBody": {"required": True, "description": "one event or a list of them", "content": {
    "application/json": {"schema": {"anyOf": [EventIn.model_json_schema(),
                                              {"type": "array", "items": EventIn.model_json_schema()}]}}}}}


def parse_events(body: bytes) -> list[EventIn]:
    """The request body (one event or a list) validated straight from its bytes, in one pass
    (pydantic's JSON parser, not ``json.loads`` then validation of the dicts). Malformed JSON
    or a bad field: 422 naming it, like every other body the service takes."""
    try:
        if body.lstrip()[:1] == b"[":
            return _MANY.validate_json(body)
        return [_ONE.validate_json(body)]
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)])


@router.post("/events", response_model=IngestResult, openapi_extra=_BODY_DOC)
async def post_events(request: Request, p: Reporter) -> Response:
    """Store events. Idempotent by event id: a retried report is answered as a duplicate and
    never counted twice. A token bound to a user may only report that user's events (a
    kernel's environment never names the user: the token does).

    The hot path: parsed and checked on the event loop, then one hop to the thread pool for
    the database (ingest and commit), and the answer encoded directly."""
    start = time.perf_counter()
    svc: Service = request.app.state.service
    events = parse_events(await request.body())
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
    res = await run_in_threadpool(_ingest_and_commit, svc, events, tok)
    for (category, action), n in Counter((e.category or "none", e.action) for e in res.stored).items():
        svc.metrics.events.labels(category, action).inc(n)
    svc.metrics.duplicates.inc(res.duplicates)
    svc.metrics.strikes.inc(res.strikes)
    svc.after_standing_changes(res.standing_changes)
    svc.metrics.ingest_seconds.observe(time.perf_counter() - start)
    return Response(orjson.dumps({"accepted": res.accepted, "duplicates": res.duplicates, "strikes": res.strikes}),
                    media_type="application/json")


def _ingest_and_commit(svc: Service, events: list[EventIn], token: TokenInfo) -> Ingested:
    with svc.sessionmaker() as db:
        res = ingest(db, events=events, reporter=token, policy=svc.policy)
        db.commit()
    return res


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
