"""Request and response bodies (pydantic). ``EventIn`` is the ingest payload: the shape of
``nbwarden.events.Event.to_dict()``, checked strictly enough that a malformed report gets a
422 that names the field, and loose enough that a newer reporter's extra keys are ignored."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..engine.ruleset import CATEGORIES
from ..events import OUTCOMES, SOURCES
from ..policy import ACTIONS

Source = Literal[SOURCES]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Action = Literal[ACTIONS]  # type: ignore[valid-type]
Name = Field(default=None, max_length=255)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    time: datetime
    source: Source
    outcome: Outcome
    action: Action
    user: str | None = Field(default=None, min_length=1, max_length=255)
    server: str | None = Name
    kernel: str | None = Name
    tier: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    rules: list[str] = Field(default_factory=list, max_length=100)
    content_hash: str | None = Field(default=None, max_length=128)
    findings: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    attribution: str = Field(default="user", pattern=r"^(user|dependency:.{1,240})$")
    detail: dict[str, Any] = Field(default_factory=dict)

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str | None) -> str | None:
        if v is not None and v not in CATEGORIES:
            raise ValueError(f"unknown category; one of: {', '.join(CATEGORIES)}")
        return v


class IngestResult(BaseModel):
    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events whose id was already stored (a retry); not counted again")
    strikes: int = Field(description="strikes given by the accepted events")


class StandingOut(BaseModel):
    user: str
    standing: str
    strikes: int
    consequence: str
    next_consequence: str
    reason: str = Field(description="the strikes behind this standing, in words")
    suspended: bool
    appeal_url: str
    policy_url: str


class EventOut(BaseModel):
    id: str
    time: datetime
    received_at: datetime
    user: str | None
    source: str
    outcome: str
    action: str
    server: str | None
    kernel: str | None
    tier: str | None
    category: str | None
    confidence: float
    rules: list[str]
    content_hash: str | None
    findings: list[dict[str, Any]]
    attribution: str
    detail: dict[str, Any]
    strike: str | None = Field(description="'active', 'dismissed' or null when the event gave no strike")


class AppealIn(BaseModel):
    message: str = Field(min_length=1, max_length=5000)


class AppealOut(BaseModel):
    id: int
    user: str
    event_id: str
    message: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    age_seconds: float


class ReviewIn(BaseModel):
    decision: Literal["uphold", "dismiss"]
    note: str = Field(default="", max_length=5000)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    scopes: list[Literal["events:write", "allowlist:read", "standing:read", "metrics:read"]] = Field(
        default_factory=lambda: ["events:write", "allowlist:read"])
    bound_user: str | None = Field(default=None, max_length=255)
    bound_server: str | None = Field(default=None, max_length=255)


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    bound_user: str | None
    bound_server: str | None
    token: str | None = Field(default=None, description="shown once, at creation")


class AccountIn(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\s/]+$")
    role: Literal["user", "reviewer", "operator"] = "user"
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    tier: str | None = None


class TierIn(BaseModel):
    tier: str = Field(min_length=1, max_length=64)
