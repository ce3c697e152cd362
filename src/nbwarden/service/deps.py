"""Typed dependencies: the service, a database session, and who is calling.

Dependencies are ``async`` so they run on the event loop instead of costing a thread hop
each (a hop costs about as much CPU as a small ingest); what touches the database inside
them goes to the thread pool explicitly, and only when it has to: a session is opened
without I/O, and a reporter's token is usually in the token cache (``tokens.py``).

Callers are one of: a browser login (cookie; a local account or a JupyterHub OAuth login),
an API token (reporters: servers and node agents; the hub), or nobody. Rules:

* state-changing requests from a browser must carry the session's CSRF token (``csrf``
  form field on pages, ``X-CSRF-Token`` header on the JSON API);
* tokens are rate limited each (429 with Retry-After);
* a notebook user sees only their own records: someone else's user page is 403, someone
  else's event or appeal is 404 (its existence is not confirmed).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, AsyncIterator

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session as DB

from . import crud
from . import models as m
from .context import Service
from .tokens import TokenInfo

SESSION_COOKIE = "nbwarden-session"
ROLE_RANK = {role: rank for rank, role in enumerate(m.ROLES)}  # each role includes those before it
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_db(svc: ServiceDep) -> AsyncIterator[DB]:
    """The request's session."""
    db = svc.sessionmaker()
    try:
        yield db
    finally:
        await close_db(db)


async def close_db(db: DB) -> None:
    """Closing a session whose transaction is still open (a read, or a failed write) rolls
    back, which is I/O, so that close happens in the thread pool."""
    if db.in_transaction():
        await run_in_threadpool(db.close)
    else:
        db.close()


DBDep = Annotated[DB, Depends(get_db)]


@dataclass
class Principal:
    user: m.User | None = None
    token: TokenInfo | None = None
    session: m.Session | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.user.name}" if self.user else crud.token_actor(self.token)

    @property
    def rank(self) -> int:
        return ROLE_RANK.get(self.user.role, 0) if self.user else -1

    @property
    def is_reviewer(self) -> bool:
        return self.rank >= ROLE_RANK["reviewer"]

    @property
    def is_operator(self) -> bool:
        return self.rank >= ROLE_RANK["operator"]

    def has_scope(self, scope: str) -> bool:
        return self.token is not None and scope in (self.token.scopes or [])

    def is_self(self, name: str) -> bool:
        return self.user is not None and self.user.name == name


def route_path(request: Request) -> str:
    """The request path without the service's base path (a hub service prefix), so rules
    about paths hold whether a request came through the proxy or straight to the port."""
    base, path = request.app.state.service.settings.base_path, request.scope["path"]
    return path[len(base):] or "/" if base and (path == base or path.startswith(base + "/")) else path


def _check_token(svc: Service, plain: str) -> TokenInfo | None:
    with svc.sessionmaker() as db:
        row = crud.token_from_plaintext(db, token=plain)
        if row is None:
            return None
        info = TokenInfo.of(row)
    svc.tokens.put(plain, info)
    return info


async def _token_principal(request: Request, svc: Service, auth: str) -> Principal:
    """The caller of an ``Authorization`` header: 401 for a malformed, unknown or revoked
    token, 429 when the token is over its rate. Usually no database query (``tokens.py``)."""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        raise HTTPException(401, "Authorization must be 'Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    plain = value.strip()
    token = svc.tokens.get(plain) or await run_in_threadpool(_check_token, svc, plain)
    if token is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    wait = svc.limiter.take(("token", token.id))
    if wait:
        raise HTTPException(429, "too many requests from this token", headers={"Retry-After": str(max(1, round(wait)))})
    p = Principal(token=token)
    request.state.principal = p.actor
    return p


async def get_principal(request: Request, db: DBDep, svc: ServiceDep) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth:
        return await _token_principal(request, svc, auth)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        sess = await run_in_threadpool(lambda: crud.session_from_cookie(db, cookie=cookie))
        if sess is not None:
            if request.method not in SAFE_METHODS and route_path(request).startswith("/api/"):
                sent = request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(sent, sess.csrf):
                    raise HTTPException(403, "missing or wrong X-CSRF-Token header")
            p = Principal(user=sess.user, session=sess)
            request.state.principal = p.actor
            return p
    return None


MaybePrincipal = Annotated[Principal | None, Depends(get_principal)]


async def require_principal(p: MaybePrincipal) -> Principal:
    if p is None:
        raise HTTPException(401, "log in or send an API token", headers={"WWW-Authenticate": "Bearer"})
    return p


PrincipalDep = Annotated[Principal, Depends(require_principal)]


async def require_person(p: PrincipalDep) -> Principal:
    """A logged-in person (not an API token)."""
    if p.user is None:
        raise HTTPException(403, "this needs a person's login, not an API token")
    return p


PersonDep = Annotated[Principal, Depends(require_person)]


async def require_reviewer(p: PrincipalDep) -> Principal:
    if not p.is_reviewer:
        raise HTTPException(403, "reviewers only")
    return p


ReviewerDep = Annotated[Principal, Depends(require_reviewer)]


async def require_operator(p: PrincipalDep) -> Principal:
    if not p.is_operator:
        raise HTTPException(403, "operators only")
    return p


OperatorDep = Annotated[Principal, Depends(require_operator)]


def token_scope(name: str):
    """A dependency for routes only API tokens call (ingest, the hot path): an API token
    with this scope, else 401 (nobody) or 403 (a browser login, or another scope). One flat
    dependency with no session of its own, instead of the chain above: FastAPI's solving
    of the chain cost a request more CPU than its database statement."""
    async def check(request: Request) -> Principal:
        svc: Service = request.app.state.service
        auth = request.headers.get("authorization", "")
        if auth:
            p = await _token_principal(request, svc, auth)
        else:  # rare on this route: whatever the general rules make of the caller
            db = svc.sessionmaker()
            try:
                p = await get_principal(request, db, svc)
            finally:
                await close_db(db)
        p = await require_principal(p)
        if not p.has_scope(name):
            raise HTTPException(403, f"this needs an API token with the {name} scope")
        return p
    return check


async def form_person(request: Request, p: PersonDep) -> Principal:
    """A page form post: a logged-in person whose form carries the session's CSRF token."""
    form = await request.form()
    if p.session is None or not hmac.compare_digest(str(form.get("csrf", "")), p.session.csrf):
        raise HTTPException(403, "this form has expired or did not come from this site; reload the page")
    return p


FormPersonDep = Annotated[Principal, Depends(form_person)]


def user_visible_to(p: Principal, name: str, *, token_scope: str | None = None) -> None:
    """A user's own records, a reviewer, or (when given) a token with that scope; else 403."""
    if p.is_self(name) or p.is_reviewer or (token_scope and p.has_scope(token_scope)):
        return
    raise HTTPException(403, "you can only see your own records")
