"""Operators: API tokens, accounts, the audit log; everyone signed in: the allowlist."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response

from .. import crud
from ..deps import DBDep, OperatorDep, PrincipalDep, ServiceDep
from ..schemas import AccountIn, TokenIn, TokenOut

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/allowlist")
def get_allowlist(db: DBDep, p: PrincipalDep) -> dict[str, Any]:
    """Content hashes reviewers found harmless; servers load this list into their policy
    (``Policy.with_allowlist``). Any signed-in caller or API token."""
    rows = crud.allowlist(db)
    return {"hashes": [r.content_hash for r in rows],
            "entries": [{"content_hash": r.content_hash, "reason": r.reason, "added_by": r.added_by,
                         "appeal": r.appeal_id, "created_at": r.created_at} for r in rows]}


@router.post("/tokens", response_model=TokenOut, status_code=201)
def post_token(db: DBDep, p: OperatorDep, body: TokenIn) -> TokenOut:
    """Issue an API token; the token is shown once and only its hash is kept."""
    plain, row = crud.create_token(db, name=body.name, scopes=list(body.scopes), bound_user=body.bound_user,
                                   bound_server=body.bound_server, actor=p.actor)
    db.commit()
    return TokenOut(id=row.id, name=row.name, scopes=row.scopes, bound_user=row.bound_user,
                    bound_server=row.bound_server, token=plain)


@router.get("/tokens", response_model=list[TokenOut])
def get_tokens(db: DBDep, p: OperatorDep) -> list[TokenOut]:
    return [TokenOut(id=t.id, name=t.name, scopes=t.scopes, bound_user=t.bound_user, bound_server=t.bound_server)
            for t in crud.list_tokens(db) if t.revoked_at is None]


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(svc: ServiceDep, db: DBDep, p: OperatorDep, token_id: int) -> Response:
    """Revoke a token: refused at once by this process, within ``token_cache_seconds`` by
    the service's other processes."""
    if not crud.revoke_token(db, token_id=token_id, actor=p.actor):
        raise HTTPException(404, "no such token")
    db.commit()
    svc.tokens.forget(token_id)
    return Response(status_code=204)


@router.post("/accounts", status_code=201)
def post_account(db: DBDep, p: OperatorDep, body: AccountIn) -> dict[str, Any]:
    """Create or update a local account (standalone logins) or a user's role."""
    u = crud.create_account(db, name=body.name, role=body.role, password=body.password, tier=body.tier, actor=p.actor)
    db.commit()
    return {"name": u.name, "role": u.role, "tier": u.tier}


@router.get("/audit")
def get_audit(db: DBDep, p: OperatorDep, limit: int = 200, subject: str | None = None) -> list[dict[str, Any]]:
    """The append-only audit log, newest first (operators)."""
    return [{"id": a.id, "time": a.time, "actor": a.actor, "action": a.action, "subject": a.subject,
             "detail": a.detail} for a in crud.audit_log(db, limit=min(max(limit, 1), 5000), subject=subject)]
