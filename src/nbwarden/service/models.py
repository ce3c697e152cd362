"""Database tables (SQLAlchemy 2). The schema itself is created by the Alembic migrations in
``migrations/``; these classes are how the code reads and writes it.

Standing is never stored: it is derived from a user's active strikes by the published ladder
(``Policy.standing``), so a dismissed appeal changes it at once and nothing can drift.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..events import utcnow

ROLES = ("user", "reviewer", "operator")  # each includes the powers of the ones before it
STRIKE_ACTIVE, STRIKE_DISMISSED = "active", "dismissed"
APPEAL_OPEN, APPEAL_UPHELD, APPEAL_DISMISSED = "open", "upheld", "dismissed"



class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    """A notebook user, a reviewer or an operator. Hub users appear on their first event or
    login; local accounts (standalone) carry a scrypt password hash."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A reporter's (server, node agent) or the hub's API token. Only a SHA-256 of the token
    is stored. ``bound_user`` set: the token may only report events for that user (a
    single-user server's token); unset: a trusted node agent that names users itself."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    bound_user: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bound_server: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Session(Base):
    """A browser login. The cookie carries a random id whose SHA-256 is stored here, so a
    logout (row deleted) makes a replayed cookie worthless."""
    __tablename__ = "sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    user: Mapped[User] = relationship(lazy="joined")


class Event(Base):
    """One reported decision (``nbwarden.events.Event``); the primary key is the reporter's
    event id, which is what makes a retried report count once. Indexed only where a query
    looks (by user, by time): every index is paid on each insert, and ingest is the hot path."""
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    server: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kernel: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    rules: Mapped[list[Any]] = mapped_column(default=list)
    content_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    attribution: Mapped[str] = mapped_column(String(255), default="user")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    user: Mapped[User | None] = relationship(lazy="joined")


class Strike(Base):
    """A consequence counted against a user. Dismissing an appeal sets ``status`` to
    dismissed; the ladder only counts active strikes inside the policy window."""
    __tablename__ = "strikes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), unique=True)
    time: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=STRIKE_ACTIVE)
    dismissed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Appeal(Base):
    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=APPEAL_OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    user: Mapped[User] = relationship(lazy="joined")
    event: Mapped[Event] = relationship(lazy="joined")


class Review(Base):
    """A reviewer's decision on an appeal: who, when, what and why."""
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # uphold | dismiss
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewer: Mapped[User] = relationship(lazy="joined")


class AllowlistEntry(Base):
    """Content a reviewer found harmless: never a strike again, for anyone. Servers load the
    list through ``GET /api/allowlist``."""
    __tablename__ = "allowlist"
    content_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(255))
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEntry(Base):
    """Append-only record of every decision and who made it (a database trigger refuses
    UPDATE and DELETE on this table)."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))  # "user:ada", "token:3 (node-agent)", "system"
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
