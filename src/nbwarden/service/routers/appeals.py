"""The review queue and reviewers' decisions."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from .. import crud
from ..deps import DBDep, PrincipalDep, ReviewerDep, ServiceDep
from ..schemas import AppealOut, ReviewIn
from .views import appeal_out

router = APIRouter(prefix="/api", tags=["appeals"])


@router.get("/queue", response_model=list[AppealOut])
def queue(db: DBDep, p: ReviewerDep) -> list[AppealOut]:
    """Open appeals, oldest first, each with its age in seconds (reviewers)."""
    return [appeal_out(a) for a in crud.review_queue(db)]


@router.get("/appeals/{appeal_id}")
def get_appeal(db: DBDep, p: PrincipalDep, appeal_id: int) -> dict[str, Any]:
    """An appeal with its reviews (its user or a reviewer; others 404)."""
    if p.user is None:
        raise HTTPException(403, "API tokens cannot read appeals")
    a = crud.get_appeal(db, appeal_id=appeal_id)
    if a is None or not (p.is_reviewer or a.user_id == p.user.id):
        raise HTTPException(404, "no such appeal")
    return {**appeal_out(a).model_dump(), "reviews": [
        {"reviewer": r.reviewer.name, "decision": r.decision, "note": r.note, "created_at": r.created_at}
        for r in crud.reviews_of(db, appeal_id=a.id)]}


@router.post("/appeals/{appeal_id}/review", response_model=AppealOut)
def review(svc: ServiceDep, db: DBDep, p: ReviewerDep, appeal_id: int, body: ReviewIn) -> AppealOut:
    """Uphold or dismiss. Dismissing removes the strike, allowlists the content hash for
    everyone and tells the user. A reviewer cannot decide their own appeal."""
    return appeal_out(decide_appeal(svc, db, appeal_id=appeal_id, reviewer=p.user, decision=body.decision,
                                    note=body.note))


def decide_appeal(svc, db, *, appeal_id: int, reviewer, decision: str, note: str):
    """The one way a review is recorded (API and pages alike): 404 for an unknown appeal,
    403 for one's own, 409 for one already decided; committed, timed and announced."""
    a = crud.get_appeal(db, appeal_id=appeal_id)
    if a is None:
        raise HTTPException(404, "no such appeal")
    if a.user_id == reviewer.id:
        raise HTTPException(403, "another reviewer must decide your own appeal")
    try:
        crud.review_appeal(db, appeal=a, reviewer=reviewer, decision=decision, note=note)
    except crud.Conflict as e:
        raise HTTPException(409, str(e)) from None
    db.commit()
    svc.metrics.answer_seconds.observe((a.decided_at - a.created_at).total_seconds())
    svc.webhooks.send("appeal.decided", {"appeal": a.id, "user": a.user.name, "decision": decision,
                                         "reviewer": reviewer.name})
    return a


def open_appeal(svc, db, *, user, event_id: str, message: str):
    """The one way an appeal is opened (API and pages alike): only on one's own event (404
    otherwise), 409 when one is already open; committed and announced to reviewers."""
    ev = crud.get_event(db, event_id=event_id)
    if ev is None or ev.user is None or ev.user.name != user.name:
        raise HTTPException(404, "no such event")
    try:
        appeal = crud.create_appeal(db, user=user, event=ev, message=message)
    except crud.Conflict as e:
        raise HTTPException(409, str(e)) from None
    db.commit()
    svc.webhooks.send("appeal.opened", {"appeal": appeal.id, "user": user.name, "event": ev.id,
                                        "review_url": svc.url(f"/appeals/{appeal.id}")})
    return appeal
