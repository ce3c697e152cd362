"""``create_app(settings)``: the FastAPI application (OpenAPI at /docs and /openapi.json).

Layers: settings -> models/db (+ Alembic migrations, run at start) -> crud -> routers and
pages, with auth in ``deps``. Errors reach callers as one clear JSON line (or a page),
never a traceback; a database that is away is a 503 with Retry-After, which reporters retry.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import __version__
from . import logs
from .context import Service
from .pages import routes as pages
from .routers import admin, appeals, events, ops, users
from .settings import Settings

log = logging.getLogger("nbwarden.service")


class BodyTooLarge(HTTPException):
    """Raised from inside ``receive`` while a streamed body is read; an HTTPException so
    FastAPI's body parsing passes it on instead of answering 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


class LimitsAndLogs:
    """ASGI middleware: refuse bodies over ``max_body_bytes`` (413, whether announced by
    Content-Length or streamed) and write one JSON access-log line per request."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, rid = time.perf_counter(), uuid.uuid4().hex[:12]
        status = {"code": 500, "started": False}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _too_large(send, self.max_body)
            status["code"] = 413
        else:
            seen = 0

            async def limited_receive():
                nonlocal seen
                msg = await receive()
                if msg["type"] == "http.request":
                    seen += len(msg.get("body", b""))
                    if seen > self.max_body:
                        raise BodyTooLarge(self.max_body)
                return msg

            async def tracking_send(msg):
                if msg["type"] == "http.response.start":
                    status["code"], status["started"] = msg["status"], True
                await send(msg)
            try:
                await self.app(scope, limited_receive, tracking_send)
            except BodyTooLarge:
                if not status["started"]:
                    await _too_large(send, self.max_body)
                status["code"] = 413
        st = scope.get("state") or {}
        log.info("request", extra={"request_id": rid, "method": scope["method"], "path": scope["path"],
                                   "status": status["code"], "principal": st.get("principal"),
                                   "duration_ms": round((time.perf_counter() - start) * 1000, 2)})


async def _too_large(send, limit: int) -> None:
    body = ('{"detail":"request body larger than %d bytes"}' % limit).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    settings = settings or Settings()
    logs.setup(json_lines=settings.log_json)
    svc = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app):
        yield
        svc.close()

    app = FastAPI(title="nbwarden policy service", version=__version__, lifespan=lifespan,
                  root_path=settings.base_path or "",
                  description="Standing, strikes, appeals and reviews for nbwarden; authoritative for "
                              "consequences. See docs/service.md.")
    app.state.service = svc
    app.state.hub_oauth = None
    if settings.hub_login if settings.hub_login is not None else bool(os.environ.get("JUPYTERHUB_CLIENT_ID")):
        from ..hub.oauth import HubLogin
        app.state.hub_oauth = HubLogin(settings.hub_reviewer_group, svc.secret,
                                       secure_cookies=not settings.development)
    for r in (ops.router, events.router, users.router, appeals.router, admin.router, pages.router):
        app.include_router(r)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if pages.wants_page(request):
            return pages.error_page(request, exc)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errs = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()[:50]]
        return JSONResponse({"detail": errs}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def db_away(request: Request, exc: Exception):
        log.warning("database error", extra={"path": request.url.path, "error": type(exc).__name__})
        return JSONResponse({"detail": "database unavailable; retry"}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.error("internal error", exc_info=exc, extra={"path": request.url.path})
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500)

    app.add_middleware(LimitsAndLogs, max_body=settings.max_body_bytes)
    return app
