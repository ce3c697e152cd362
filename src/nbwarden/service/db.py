"""Engine, sessions and migrations. SQLite (the standalone default) gets WAL, foreign keys
and a busy timeout; on PostgreSQL a restarted database costs a failed request or two (503,
retried by the reporter), not a dead service."""
from __future__ import annotations

import functools
from pathlib import Path

import orjson

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
        return eng
    # No pre-ping (it costs a round trip per request): after a database restart the first
    # statement on a stale connection fails, SQLAlchemy discards the whole pool, the caller
    # gets a 503 and retries.
    return create_engine(url, pool_size=10, max_overflow=10, pool_timeout=10, json_serializer=_json)


def _json(value) -> str:
    return orjson.dumps(value, default=str).decode()


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run at every start; a no-op when current)."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code ships (read from the migration scripts once)."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def schema_is_current(engine: Engine) -> bool:
    """The database answers and is at ``head_revision()``: one query."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head_revision()
