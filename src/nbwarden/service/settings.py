"""Service settings, read from ``NBWARDEN_*`` environment variables (or given directly).

Standalone needs no set-up: SQLite under the user's data dir and a random secret kept beside
it. A fleet sets ``NBWARDEN_DATABASE_URL`` (PostgreSQL). A placeholder secret such as
``changethis`` is refused unless ``NBWARDEN_ENVIRONMENT=development``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changethis", "change-me", "changeme", "secret", "placeholder", "dev", "development", ""}


def data_dir() -> Path:
    """Where the standalone service keeps its database and secret (``NBWARDEN_DATA_DIR``,
    else ``$XDG_DATA_HOME/nbwarden``, else ``~/.local/share/nbwarden``)."""
    base = os.environ.get("NBWARDEN_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "nbwarden")
    return Path(base)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NBWARDEN_", extra="ignore")

    environment: str = Field("production", description="'production' or 'development'; development allows a "
                             "placeholder secret and plain-HTTP cookies. Example: development")
    database_url: str | None = Field(None, description="SQLAlchemy URL. Default: SQLite at <data dir>/service.sqlite. "
                                     "Example: postgresql+psycopg://nbwarden@db:5432/nbwarden")
    secret_key: str | None = Field(None, description="The service secret (at least 32 characters); signs webhooks "
                                   "unless NBWARDEN_WEBHOOK_SECRET is set. Default: generated once and kept at "
                                   "<data dir>/service.secret (mode 0600)")
    policy_path: str | None = Field(None, description="Policy YAML file. Default: the shipped policy")
    public_url: str = Field("", description="URL users reach the service at, used in appeal links. "
                            "Example: https://hub.example.org/services/nbwarden")
    base_path: str = Field("", description="Path prefix the service is mounted under (JupyterHub service "
                           "prefix). Example: /services/nbwarden")
    max_body_bytes: int = Field(1_048_576, description="Largest request body accepted, in bytes (413 above it). "
                                "Example: 1048576")
    max_batch: int = Field(1000, description="Most events in one POST /api/events batch. Example: 1000")
    rate_per_second: float = Field(50.0, description="Requests per second one API token may make on average "
                                   "(429 above it). Example: 50")
    rate_burst: int = Field(200, description="Requests one API token may make at once before the rate "
                            "applies. Example: 200")
    token_cache_seconds: float = Field(5.0, description="How long a service process trusts an API token it has "
                                       "checked, in seconds, before asking the database again; a revoked token stops "
                                       "working within this time in every process (at once in the one that revoked "
                                       "it). 0 checks every request. Example: 5")
    session_hours: float = Field(12.0, description="Lifetime of a browser login, in hours. Example: 12")
    hub_api_url: str | None = Field(None, description="JupyterHub API URL; set when run as a hub service "
                                    "(JUPYTERHUB_API_URL is used too). Example: http://127.0.0.1:8081/hub/api")
    hub_api_token: str | None = Field(None, description="The service's JupyterHub token (JUPYTERHUB_API_TOKEN "
                                      "is used too)")
    hub_stop_servers: bool = Field(True, description="Stop a user's servers through the Hub API when they "
                                   "reach 'suspended'. Example: true")
    hub_login: bool | None = Field(None, description="Log people in through JupyterHub OAuth instead of local "
                                   "accounts. Default: on when run as a hub service (JUPYTERHUB_CLIENT_ID is set). "
                                   "Example: true")
    hub_reviewer_group: str = Field("nbwarden-reviewers", description="JupyterHub group whose members are "
                                    "reviewers; Hub admins are operators. Example: nbwarden-reviewers")
    webhook_urls: list[str] = Field(default_factory=list, description="URLs that receive signed alert "
                                    "webhooks (JSON list). Example: [\"https://ops.example.org/hook\"]")
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for the X-NBWarden-Signature header. "
                                       "Default: the service secret")
    webhook_max_attempts: int = Field(6, description="Tries per webhook before it is dropped (logged). Example: 6")
    webhook_backoff_seconds: float = Field(1.0, description="First retry delay in seconds, doubled each try. "
                                           "Example: 1.0")
    log_json: bool = Field(True, description="Structured JSON log lines on stderr. Example: true")

    @model_validator(mode="after")
    def _refuse_placeholder(self) -> "Settings":
        for name in ("secret_key", "webhook_secret"):
            value = getattr(self, name)
            if value is not None and self.environment != "development":
                if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 32:
                    raise ValueError(f"NBWARDEN_{name.upper()} is a placeholder or shorter than 32 characters; set a "
                                     "random one (python -c 'import secrets; print(secrets.token_urlsafe(32))') "
                                     "or leave it unset to have one generated")
        return self

    @model_validator(mode="after")
    def _known_database(self) -> "Settings":
        """SQLite, or PostgreSQL through psycopg 3: ingest drives psycopg itself (its pipeline
        mode), so another PostgreSQL driver would fail at the first batch instead of here."""
        if self.database_url and not self.database_url.startswith(("sqlite:", "sqlite+pysqlite:",
                                                                   "postgresql+psycopg:")):
            raise ValueError("NBWARDEN_DATABASE_URL must be sqlite:///<path> or postgresql+psycopg://<user>@<host>/<db> "
                             f"(PostgreSQL through psycopg 3), not {self.database_url.split(':', 1)[0]}:...")
        return self

    @property
    def development(self) -> bool:
        return self.environment == "development"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        d = data_dir()
        d.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{d / 'service.sqlite'}"

    def resolved_secret(self) -> str:
        """The configured secret, or one generated on first start and kept (mode 0600)."""
        if self.secret_key:
            return self.secret_key
        path = data_dir() / "service.secret"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key

    def resolved_hub(self) -> tuple[str | None, str | None]:
        return (self.hub_api_url or os.environ.get("JUPYTERHUB_API_URL"),
                self.hub_api_token or os.environ.get("JUPYTERHUB_API_TOKEN"))
