"""A user's standing, events, appeals and notifications; tiers (operators)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from .. import crud
from ..deps import DBDep, OperatorDep, PersonDep, PrincipalDep, ServiceDep, user_visible_to
from ..schemas import AppealOut, EventOut, StandingOut, TierIn
from .views import appeal_out, event_out

router = APIRouter(prefix="/api", tags=["users"])


def standing_out(svc, db, name: str) -> StandingOut:
    user = crud.get_user(db, name=name)
    st, reason = crud.standing_with_reason(db, user_id=user.id if user else None, policy=svc.policy)
    return StandingOut(user=name, standing=st.standing, strikes=st.strikes, consequence=st.consequence,
                       next_consequence=st.next_consequence, reason=reason,
                       suspended=st.standing == "suspended",
                       appeal_url=svc.url("/me"), policy_url=svc.policy.url)


@router.get("/me")
def me(svc: ServiceDep, db: DBDep, p: PrincipalDep) -> dict[str, Any]:
    """Who the caller is, and (for a person) their standing."""
    if p.user is None:
        t = p.token
        return {"kind": "token", "name": t.name, "scopes": t.scopes, "bound_user": t.bound_user}
    return {"kind": "user", "name": p.user.name, "role": p.user.role, "tier": p.user.tier,
            "csrf": p.session.csrf if p.session else None,
            "standing": standing_out(svc, db, p.user.name).model_dump()}


@router.get("/users/{name}/standing", response_model=StandingOut)
def get_standing(svc: ServiceDep, db: DBDep, p: PrincipalDep, name: str) -> StandingOut:
    """A user's standing by the published ladder (the user, reviewers, or the hub's token
    with the standing:read scope). A user never seen is in good standing."""
    user_visible_to(p, name, token_scope="standing:read")
    return standing_out(svc, db, name)


@router.get("/users/{name}/events", response_model=list[EventOut])
def get_user_events(db: DBDep, p: PersonDep, name: str, limit: int = 100) -> list[EventOut]:
    """A user's events, newest first."""
    user_visible_to(p, name)
    user = crud.get_user(db, name=name)
    if user is None:
        return []
    evs = crud.user_events(db, user_id=user.id, limit=min(max(limit, 1), 1000))
    strikes = crud.strike_status(db, event_ids=[e.id for e in evs])
    return [event_out(e, strikes.get(e.id)) for e in evs]


@router.get("/users/{name}/appeals", response_model=list[AppealOut])
def get_user_appeals(db: DBDep, p: PersonDep, name: str) -> list[AppealOut]:
    user_visible_to(p, name)
    user = crud.get_user(db, name=name)
    return [appeal_out(a) for a in crud.user_appeals(db, user_id=user.id)] if user else []


@router.get("/notifications")
def get_notifications(db: DBDep, p: PersonDep) -> list[dict[str, Any]]:
    """The caller's own notifications, newest first."""
    return [{"id": n.id, "kind": n.kind, "message": n.message, "link": n.link, "created_at": n.created_at}
            for n in crud.notifications(db, user_id=p.user.id)]


@router.put("/users/{name}/tier")
def put_tier(db: DBDep, p: OperatorDep, name: str, body: TierIn, svc: ServiceDep) -> dict[str, str]:
    """Set a user's tier (operators)."""
    if body.tier not in svc.policy.tiers:
        raise HTTPException(422, f"tier must be one of {', '.join(svc.policy.tiers)}")
    crud.ensure_users(db, names=[name])
    crud.set_tier(db, user=crud.get_user(db, name=name), tier=body.tier, actor=p.actor)
    db.commit()
    return {"user": name, "tier": body.tier}
