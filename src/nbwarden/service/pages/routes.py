"""Server-rendered pages for users (standing, events, appeals), reviewers (queue, appeal
detail with evidence) and operators (dashboard). Forms carry the session's CSRF token;
login forms a pre-login token kept in a cookie (double submit)."""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from .. import crud
from ..deps import (SESSION_COOKIE, route_path, DBDep, FormPersonDep, MaybePrincipal, PersonDep, ReviewerDep, ServiceDep,
                    user_visible_to)
from ..models import utcnow
from ..security import verify_password
from ..routers.appeals import decide_appeal, open_appeal
from ..routers.events import visible_event
from . import charts

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
LOGIN_CSRF = "nbwarden-login-csrf"


def highlight(snippet: str, fact: str) -> Markup:
    """The evidence line with what the rule matched marked (<mark>)."""
    value = fact.split(": ", 1)[1] if ": " in fact else fact
    snippet = snippet or ""
    i = snippet.find(value) if value else -1
    if i < 0:
        return escape(snippet)
    return escape(snippet[:i]) + Markup("<mark>") + escape(value) + Markup("</mark>") + escape(snippet[i + len(value):])


def age(seconds: float) -> str:
    s = int(seconds)
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


templates.env.filters["highlight"] = highlight
templates.env.filters["age"] = age


def wants_page(request: Request) -> bool:
    path = route_path(request)
    return not (path.startswith("/api/") or path in ("/metrics", "/healthz", "/readyz", "/openapi.json"))


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    svc = request.app.state.service
    return templates.TemplateResponse(request, name, {"base": svc.settings.base_path, "policy": svc.policy, **ctx},
                                      status_code=status_code)


def error_page(request: Request, exc: HTTPException):
    base = request.app.state.service.settings.base_path
    if exc.status_code == 401:
        return RedirectResponse(f"{base}/login?next={quote(route_path(request))}", status_code=303)
    return render(request, "error.html", exc.status_code, status=exc.status_code, detail=exc.detail, me=None)


def _redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(request.app.state.service.settings.base_path + path, status_code=303)


def _safe_next(nxt: str | None) -> str:
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") else "/"


# -- login ----------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, svc: ServiceDep, next: str | None = None):
    oauth = getattr(request.app.state, "hub_oauth", None)
    if oauth is not None:
        return oauth.redirect_to_hub(request, _safe_next(next))
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", me=None, csrf=token, next=_safe_next(next), error=None)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=not svc.settings.development,
                    path=svc.settings.base_path or "/")
    return resp


@router.get("/oauth_callback")
async def oauth_callback(request: Request, svc: ServiceDep, code: str, state: str):
    """The end of a JupyterHub login (hub service mode)."""
    oauth = getattr(request.app.state, "hub_oauth", None)
    if oauth is None:
        raise HTTPException(404, "not running as a JupyterHub service")
    model, nxt = await oauth.finish(request, code, state)
    role = oauth.role_of(model)
    with svc.db() as db:
        crud.ensure_users(db, names=[model["name"]])
        user = crud.get_user(db, name=model["name"])
        if user.role != role:
            crud.audit(db, actor="hub", action="role.sync", subject=f"user:{user.name}",
                       detail={"from": user.role, "to": role})
            user.role = role
        resp = start_session(request, svc, db, user, nxt)
    resp.delete_cookie(oauth.STATE_COOKIE, path=oauth.auth.base_url or "/")  # a login state is used once
    return resp


@router.post("/login")
def login(request: Request, svc: ServiceDep, db: DBDep, name: str = Form(...), password: str = Form(...),
          csrf: str = Form(...), next: str = Form("/")):
    if not hmac.compare_digest(csrf, request.cookies.get(LOGIN_CSRF, "")):
        raise HTTPException(403, "this form has expired; reload the login page")
    user = crud.get_user(db, name=name)
    if not verify_password(password, user.password_hash if user else None):
        crud.audit(db, actor=f"user:{name}", action="login.fail", subject=f"user:{name}")
        db.commit()
        return render(request, "login.html", 401, me=None, csrf=csrf, next=_safe_next(next),
                      error="Wrong name or password.")
    return start_session(request, svc, db, user, _safe_next(next))


def start_session(request: Request, svc, db, user, nxt: str):
    cookie, _ = crud.create_session(db, user=user, hours=svc.settings.session_hours)
    crud.audit(db, actor=f"user:{user.name}", action="login", subject=f"user:{user.name}")
    db.commit()
    resp = _redirect(request, nxt)
    resp.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=not svc.settings.development,
                    max_age=int(svc.settings.session_hours * 3600), path=svc.settings.base_path or "/")
    resp.delete_cookie(LOGIN_CSRF, path=svc.settings.base_path or "/")
    return resp


@router.post("/logout")
def logout(request: Request, db: DBDep, p: FormPersonDep):
    crud.end_session(db, cookie=request.cookies[SESSION_COOKIE])
    db.commit()
    resp = _redirect(request, "/login")
    resp.delete_cookie(SESSION_COOKIE, path=request.app.state.service.settings.base_path or "/")
    return resp


# -- users ----------------------------------------------------------------------------------
@router.get("/")
def home(request: Request, p: MaybePrincipal):
    if p is None or p.user is None:
        return _redirect(request, "/login")
    return _redirect(request, "/queue" if p.is_reviewer else "/me")


def _user_page(request, svc, db, p, name: str):
    user = crud.get_user(db, name=name)
    st = crud.standing(db, user_id=user.id if user else None, policy=svc.policy)
    evs = crud.user_events(db, user_id=user.id) if user else []
    return render(request, "user.html", me=p, user_name=name, standing=st, events=evs,
                  strikes=crud.strike_status(db, event_ids=[e.id for e in evs]),
                  appeals=crud.user_appeals(db, user_id=user.id) if user else [],
                  notes=crud.notifications(db, user_id=user.id) if user and p.is_self(name) else [])


@router.get("/me")
def me_page(request: Request, svc: ServiceDep, db: DBDep, p: PersonDep):
    return _user_page(request, svc, db, p, p.user.name)


@router.get("/users/{name}")
def user_page(request: Request, svc: ServiceDep, db: DBDep, p: PersonDep, name: str):
    user_visible_to(p, name)
    return _user_page(request, svc, db, p, name)


@router.get("/events/{event_id}")
def event_page(request: Request, db: DBDep, p: PersonDep, event_id: str):
    ev = visible_event(db, p, event_id)
    appeals = [a for a in crud.user_appeals(db, user_id=ev.user_id) if a.event_id == ev.id] if ev.user_id else []
    return render(request, "event.html", me=p, ev=ev, strike=crud.strike_status(db, event_ids=[ev.id]).get(ev.id),
                  appeals=appeals, can_appeal=p.is_self(ev.user.name if ev.user else "")
                  and not any(a.status == "open" for a in appeals))


@router.post("/events/{event_id}/appeal")
def appeal_form(request: Request, svc: ServiceDep, db: DBDep, p: FormPersonDep, event_id: str,
                message: str = Form(..., min_length=1, max_length=5000)):
    open_appeal(svc, db, user=p.user, event_id=event_id, message=message)
    return _redirect(request, f"/events/{event_id}")


# -- reviewers --------------------------------------------------------------------------------
@router.get("/queue")
def queue_page(request: Request, db: DBDep, p: ReviewerDep):
    now = utcnow()
    return render(request, "queue.html", me=p, appeals=[(a, (now - a.created_at).total_seconds())
                                                        for a in crud.review_queue(db)])


@router.get("/appeals/{appeal_id}")
def appeal_page(request: Request, db: DBDep, p: PersonDep, appeal_id: int):
    a = crud.get_appeal(db, appeal_id=appeal_id)
    if a is None or not (p.is_reviewer or a.user_id == p.user.id):
        raise HTTPException(404, "no such appeal")
    return render(request, "appeal.html", me=p, appeal=a, ev=a.event, reviews=crud.reviews_of(db, appeal_id=a.id),
                  strike=crud.strike_status(db, event_ids=[a.event_id]).get(a.event_id),
                  can_review=p.is_reviewer and a.user_id != p.user.id and a.status == "open",
                  age=((a.decided_at or utcnow()) - a.created_at).total_seconds())


@router.post("/appeals/{appeal_id}/review")
def review_form(request: Request, svc: ServiceDep, db: DBDep, p: FormPersonDep, appeal_id: int,
                decision: str = Form(..., pattern="^(uphold|dismiss)$"), note: str = Form("", max_length=5000)):
    if not p.is_reviewer:
        raise HTTPException(403, "reviewers only")
    decide_appeal(svc, db, appeal_id=appeal_id, reviewer=p.user, decision=decision, note=note)
    return _redirect(request, "/queue")


@router.get("/dashboard")
def dashboard(request: Request, db: DBDep, p: ReviewerDep, days: int = 14):
    days = min(max(days, 1), 90)
    now = utcnow()
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]
    idx = {d: i for i, d in enumerate(labels)}
    by_cat: dict[str, list[int]] = {}
    by_act: dict[str, list[int]] = {}
    for day, cat, act, n in crud.events_by_day(db, since=start):
        if day in idx:
            by_cat.setdefault(cat or "none", [0] * days)[idx[day]] += n
            by_act.setdefault(act, [0] * days)[idx[day]] += n
    depth = crud.queue_depth_by_day(db, days=[start + timedelta(days=i + 1) for i in range(days)])
    answers = [(d.isoformat(timespec="minutes"), s / 3600) for d, s in crud.answer_times(db, limit=60)]
    n_open, oldest = crud.queue_stats(db, now=now)
    return render(request, "dashboard.html", me=p, n_open=n_open, oldest=oldest,
                  total=sum(sum(v) for v in by_cat.values()),
                  cat_chart=charts.stacked_bars(labels, by_cat, title=f"Events by category, last {days} days"),
                  act_chart=charts.stacked_bars(labels, by_act, title=f"Events by action, last {days} days"),
                  queue_chart=charts.stacked_bars(labels, {"open appeals": depth},
                                                  title="Appeal queue depth at the end of each day"),
                  answer_chart=charts.line(answers, title="Time to answer an appeal", unit="h"))
