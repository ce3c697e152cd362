"""Every read and write the service makes, as functions with keyword-only arguments (event
ingest, the hot path, has its own module: ``ingest.py``). Routers and pages call these and
nothing else touches the tables, so the rules (idempotent ingest, dependency events never
strike, allowlisted content never strikes, dismissing an appeal removes its strike and
allowlists the content for everyone, every decision audited) live in one place."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DB

from ..policy import Policy, Standing
from . import models as m
from .models import utcnow
from .security import hash_password, hash_token, new_token
from .tokens import TokenInfo

def insert_for(db: DB, table):
    """INSERT with ON CONFLICT support for the session's database."""
    return (postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


# -- audit ------------------------------------------------------------------------------------
def audit(db: DB, *, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    db.add(m.AuditEntry(actor=actor, action=action, subject=subject, detail=detail or {}))


def audit_log(db: DB, *, limit: int = 200, subject: str | None = None) -> list[m.AuditEntry]:
    q = select(m.AuditEntry).order_by(m.AuditEntry.id.desc()).limit(limit)
    if subject:
        q = q.where(m.AuditEntry.subject == subject)
    return list(db.scalars(q))


# -- users and accounts -------------------------------------------------------------------------
def get_user(db: DB, *, name: str) -> m.User | None:
    return db.scalar(select(m.User).where(m.User.name == name))


def ensure_users(db: DB, *, names: Iterable[str]) -> dict[str, int]:
    """Ids of these users, creating the missing ones (race-safe: ON CONFLICT DO NOTHING)."""
    names = sorted(set(names))
    if not names:
        return {}
    ids = dict(db.execute(select(m.User.name, m.User.id).where(m.User.name.in_(names))).all())
    missing = [n for n in names if n not in ids]
    if missing:
        db.execute(insert_for(db, m.User.__table__).on_conflict_do_nothing(index_elements=["name"]),
                   [{"name": n, "role": "user", "created_at": utcnow()} for n in missing])
        ids.update(db.execute(select(m.User.name, m.User.id).where(m.User.name.in_(missing))).all())
    return ids


def create_account(db: DB, *, name: str, role: str, password: str | None, tier: str | None, actor: str) -> m.User:
    """Create a local account, or update the role/password/tier of an existing user."""
    user = get_user(db, name=name) or m.User(name=name)
    user.role = role
    if password:
        user.password_hash = hash_password(password)
    if tier:
        user.tier = tier
    db.add(user)
    db.flush()
    audit(db, actor=actor, action="account.set", subject=f"user:{name}", detail={"role": role, "tier": tier,
                                                                               "password_set": bool(password)})
    return user


def set_tier(db: DB, *, user: m.User, tier: str, actor: str) -> None:
    audit(db, actor=actor, action="tier.set", subject=f"user:{user.name}", detail={"from": user.tier, "to": tier})
    user.tier = tier


# -- tokens and sessions --------------------------------------------------------------------------
def create_token(db: DB, *, name: str, scopes: list[str], bound_user: str | None, bound_server: str | None,
                 actor: str) -> tuple[str, m.ApiToken]:
    plain = new_token()
    row = m.ApiToken(name=name, token_hash=hash_token(plain), scopes=list(scopes), bound_user=bound_user,
                     bound_server=bound_server, created_by=actor)
    db.add(row)
    db.flush()
    audit(db, actor=actor, action="token.create", subject=f"token:{row.id}",
          detail={"name": name, "scopes": list(scopes), "bound_user": bound_user, "bound_server": bound_server})
    return plain, row


def token_from_plaintext(db: DB, *, token: str) -> m.ApiToken | None:
    row = db.scalar(select(m.ApiToken).where(m.ApiToken.token_hash == hash_token(token)))
    return row if row is not None and row.revoked_at is None else None


def list_tokens(db: DB) -> list[m.ApiToken]:
    return list(db.scalars(select(m.ApiToken).order_by(m.ApiToken.id)))


def revoke_token(db: DB, *, token_id: int, actor: str) -> bool:
    row = db.get(m.ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit(db, actor=actor, action="token.revoke", subject=f"token:{token_id}", detail={"name": row.name})
    return True


def create_session(db: DB, *, user: m.User, hours: float) -> tuple[str, str]:
    """A new login: returns (cookie value, csrf token)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    db.add(m.Session(id_hash=hash_token(sid), user_id=user.id, csrf=csrf,
                     expires_at=utcnow() + timedelta(hours=hours)))
    return sid, csrf


def session_from_cookie(db: DB, *, cookie: str) -> m.Session | None:
    row = db.get(m.Session, hash_token(cookie))
    if row is None or row.expires_at < utcnow():
        return None
    return row


def end_session(db: DB, *, cookie: str) -> None:
    db.execute(delete(m.Session).where(m.Session.id_hash == hash_token(cookie)))


# -- ingest (the hot path itself is ``ingest.py``) -------------------------------------------------
def allowlisted(db: DB, *, hashes: Iterable[str]) -> set[str]:
    hashes = {h for h in hashes if h}
    if not hashes:
        return set()
    return set(db.scalars(select(m.AllowlistEntry.content_hash).where(m.AllowlistEntry.content_hash.in_(hashes))))


def token_actor(token: m.ApiToken | TokenInfo | None) -> str:
    return f"token:{token.id} ({token.name})" if token else "system"


# -- standing -------------------------------------------------------------------------------------
def strike_times(db: DB, *, user_id: int, since: datetime) -> list[datetime]:
    return list(db.scalars(select(m.Strike.time).where(
        m.Strike.user_id == user_id, m.Strike.status == m.STRIKE_ACTIVE, m.Strike.time >= since)))


def standing(db: DB, *, user_id: int | None, policy: Policy, now: datetime | None = None) -> Standing:
    now = now or utcnow()
    times = strike_times(db, user_id=user_id, since=now - policy.window) if user_id is not None else []
    return policy.standing(times, now)


def standing_with_reason(db: DB, *, user_id: int | None, policy: Policy,
                         now: datetime | None = None) -> tuple[Standing, str]:
    """A standing and the strikes behind it in words ("3 strikes in 30 days: mining
    (2026-11-25), ..."), from one query."""
    now = now or utcnow()
    rows = [] if user_id is None else db.execute(
        select(m.Strike.time, m.Event.category, m.Event.outcome).join(m.Event, m.Event.id == m.Strike.event_id)
        .where(m.Strike.user_id == user_id, m.Strike.status == m.STRIKE_ACTIVE,
               m.Strike.time >= now - policy.window).order_by(m.Strike.time)).all()
    st = policy.standing([t for t, _, _ in rows], now)
    if not rows:
        return st, ""
    items = ", ".join(f"{c or 'uncategorised'} {o} ({t.date().isoformat()})" for t, c, o in rows)
    return st, f"{len(rows)} strike{'s' if len(rows) != 1 else ''} in {policy.window.days} days: {items}"


# -- events ---------------------------------------------------------------------------------------
def get_event(db: DB, *, event_id: str) -> m.Event | None:
    return db.get(m.Event, event_id)


def user_events(db: DB, *, user_id: int, limit: int = 100) -> list[m.Event]:
    return list(db.scalars(select(m.Event).where(m.Event.user_id == user_id)
                           .order_by(m.Event.time.desc()).limit(limit)))


def strike_status(db: DB, *, event_ids: list[str]) -> dict[str, str]:
    if not event_ids:
        return {}
    return dict(db.execute(select(m.Strike.event_id, m.Strike.status).where(m.Strike.event_id.in_(event_ids))).all())


def count_events(db: DB) -> int:
    return db.scalar(select(func.count()).select_from(m.Event)) or 0


# -- appeals and reviews ----------------------------------------------------------------------------
class Conflict(Exception):
    """The request clashes with the current state (an appeal already open or decided)."""


def create_appeal(db: DB, *, user: m.User, event: m.Event, message: str) -> m.Appeal:
    existing = db.scalar(select(m.Appeal).where(m.Appeal.event_id == event.id, m.Appeal.status == m.APPEAL_OPEN))
    if existing is not None:
        raise Conflict(f"appeal {existing.id} on this event is already waiting for a reviewer")
    appeal = m.Appeal(user_id=user.id, event_id=event.id, message=message, created_at=utcnow())
    db.add(appeal)
    db.flush()
    audit(db, actor=f"user:{user.name}", action="appeal.open", subject=f"appeal:{appeal.id}",
          detail={"event": event.id})
    return appeal


def get_appeal(db: DB, *, appeal_id: int) -> m.Appeal | None:
    return db.get(m.Appeal, appeal_id)


def user_appeals(db: DB, *, user_id: int) -> list[m.Appeal]:
    return list(db.scalars(select(m.Appeal).where(m.Appeal.user_id == user_id).order_by(m.Appeal.id.desc())))


def review_queue(db: DB, *, limit: int = 200) -> list[m.Appeal]:
    """Open appeals, oldest first."""
    return list(db.scalars(select(m.Appeal).where(m.Appeal.status == m.APPEAL_OPEN)
                           .order_by(m.Appeal.created_at, m.Appeal.id).limit(limit)))


def queue_stats(db: DB, *, now: datetime | None = None) -> tuple[int, float]:
    """(open appeals, age of the oldest in seconds)."""
    now = now or utcnow()
    n, oldest = db.execute(select(func.count(), func.min(m.Appeal.created_at))
                           .where(m.Appeal.status == m.APPEAL_OPEN)).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return n, (now - oldest).total_seconds() if oldest else 0.0


def reviews_of(db: DB, *, appeal_id: int) -> list[m.Review]:
    return list(db.scalars(select(m.Review).where(m.Review.appeal_id == appeal_id).order_by(m.Review.id)))


def review_appeal(db: DB, *, appeal: m.Appeal, reviewer: m.User, decision: str, note: str) -> m.Review:
    """Uphold (the strike stays) or dismiss (the strike goes, the content hash is allowlisted
    for everyone, the user is told). Raises Conflict when already decided."""
    if appeal.status != m.APPEAL_OPEN:
        raise Conflict(f"appeal {appeal.id} was already {appeal.status}")
    now = utcnow()
    review = m.Review(appeal_id=appeal.id, reviewer_id=reviewer.id, decision=decision, note=note, created_at=now)
    db.add(review)
    appeal.decided_at = now
    event = appeal.event
    actor = f"user:{reviewer.name}"
    if decision == "dismiss":
        appeal.status = m.APPEAL_DISMISSED
        db.execute(update(m.Strike).where(m.Strike.event_id == event.id, m.Strike.status == m.STRIKE_ACTIVE)
                   .values(status=m.STRIKE_DISMISSED, dismissed_at=now))
        if event.content_hash:
            db.execute(insert_for(db, m.AllowlistEntry).on_conflict_do_nothing(index_elements=["content_hash"]),
                       [{"content_hash": event.content_hash, "reason": note or "appeal dismissed",
                         "added_by": reviewer.name, "appeal_id": appeal.id, "created_at": now}])
            audit(db, actor=actor, action="allowlist.add", subject=f"hash:{event.content_hash}",
                  detail={"appeal": appeal.id})
        message = ("Your appeal was accepted: the strike was removed and this content will not be flagged again."
                   + (f" Reviewer's note: {note}" if note else ""))
    else:
        appeal.status = m.APPEAL_UPHELD
        message = "Your appeal was reviewed and the decision stands." + (f" Reviewer's note: {note}" if note else "")
    audit(db, actor=actor, action=f"appeal.{decision}", subject=f"appeal:{appeal.id}",
          detail={"event": event.id, "note": note})
    notify(db, user_id=appeal.user_id, kind=f"appeal.{appeal.status}", message=message, link=f"/events/{event.id}")
    db.flush()
    return review


def answer_times(db: DB, *, limit: int = 500) -> list[tuple[datetime, float]]:
    """(decided at, seconds from appeal to decision) of recent decisions, oldest first."""
    rows = db.execute(select(m.Appeal.decided_at, m.Appeal.created_at).where(m.Appeal.decided_at.is_not(None))
                      .order_by(m.Appeal.decided_at.desc()).limit(limit)).all()
    return [(d, (d - c).total_seconds()) for d, c in reversed(rows)]


def queue_depth_by_day(db: DB, *, days: list[datetime]) -> list[int]:
    """Open appeals at each of these moments (the end of each day on the dashboard)."""
    if not days:
        return []
    rows = db.execute(select(m.Appeal.created_at, m.Appeal.decided_at).where(
        m.Appeal.created_at <= days[-1], (m.Appeal.decided_at.is_(None)) | (m.Appeal.decided_at >= days[0]))).all()
    return [sum(1 for c, d in rows if c <= t and (d is None or d > t)) for t in days]


# -- allowlist and notifications -------------------------------------------------------------------
def allowlist(db: DB) -> list[m.AllowlistEntry]:
    return list(db.scalars(select(m.AllowlistEntry).order_by(m.AllowlistEntry.created_at)))


def notify(db: DB, *, user_id: int, kind: str, message: str, link: str = "") -> None:
    db.add(m.Notification(user_id=user_id, kind=kind, message=message, link=link, created_at=utcnow()))


def notifications(db: DB, *, user_id: int, limit: int = 50) -> list[m.Notification]:
    return list(db.scalars(select(m.Notification).where(m.Notification.user_id == user_id)
                           .order_by(m.Notification.id.desc()).limit(limit)))


# -- dashboard --------------------------------------------------------------------------------------
def events_by_day(db: DB, *, since: datetime) -> list[tuple[str, str | None, str, int]]:
    """(day, category, action, count) since a time; the day is cut in Python so the query is
    the same on SQLite and PostgreSQL."""
    rows = db.execute(select(m.Event.time, m.Event.category, m.Event.action).where(m.Event.time >= since)).all()
    counts: dict[tuple[str, str | None, str], int] = {}
    for t, c, a in rows:
        k = (t.date().isoformat(), c, a)
        counts[k] = counts.get(k, 0) + 1
    return [(d, c, a, n) for (d, c, a), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2]))]


