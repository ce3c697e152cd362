"""Everything one running service process holds: settings, database, policy, limiter, token
cache, metrics, background jobs, webhooks and the Hub client. Built once by ``create_app``; routers reach
it through the ``ServiceDep`` dependency, tests through ``app.state.service``."""
from __future__ import annotations

import logging
from sqlalchemy.orm import Session as DB

from ..hub.api import HubClient
from ..policy import Policy, Standing
from . import crud
from .background import Background
from .db import make_engine, make_sessionmaker, migrate
from .metrics import Metrics
from .ratelimit import RateLimiter
from .settings import Settings
from .tokens import TokenCache
from .webhooks import Webhooks

log = logging.getLogger("nbwarden.service")


class Service:
    def __init__(self, settings: Settings, *, run_migrations: bool = True):
        self.settings = settings
        self.secret = settings.resolved_secret()
        self.database_url = settings.resolved_database_url()
        self.engine = make_engine(self.database_url)
        if run_migrations:
            migrate(self.engine)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.policy = Policy.load(settings.policy_path)
        self.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        self.tokens = TokenCache(settings.token_cache_seconds)
        self.metrics = Metrics(self.queue_stats)
        self.background = Background(settings.webhook_max_attempts, settings.webhook_backoff_seconds)
        self.webhooks = Webhooks(settings.webhook_urls, settings.webhook_secret or self.secret, self.background)
        api_url, token = settings.resolved_hub()
        self.hub = HubClient(api_url, token) if api_url and token else None

    def queue_stats(self) -> tuple[int, float]:
        with self.sessionmaker() as db:
            return crud.queue_stats(db)

    def url(self, path: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}{self.settings.base_path}{path}"

    def after_standing_changes(self, changes: dict[str, tuple[str, Standing]]) -> None:
        """After the commit: alert, and stop the servers of users who just reached suspension."""
        for user, (before, after) in changes.items():
            self.webhooks.send("user.standing", {"user": user, "from": before, "to": after.standing,
                                                 "strikes": after.strikes})
            if after.standing == "suspended":
                log.warning("user suspended", extra={"user": user, "strikes": after.strikes})
                self.webhooks.send("user.suspended", {"user": user, "strikes": after.strikes,
                                                      "appeal_url": self.url("/me")})
                if self.hub and self.settings.hub_stop_servers:
                    self.background.submit(f"stop {user}'s servers", lambda u=user: self._stop(u))

    def _stop(self, user: str) -> None:
        stopped = self.hub.stop_servers(user)
        with self.sessionmaker() as db:
            crud.audit(db, actor="system", action="hub.stop_servers", subject=f"user:{user}",
                       detail={"hub_status": stopped})
            db.commit()

    def db(self) -> DB:
        return self.sessionmaker()

    def close(self) -> None:
        self.background.close()
        self.engine.dispose()

