"""Health, readiness and Prometheus metrics."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from ..db import schema_is_current
from ..deps import PrincipalDep, ServiceDep
from ..metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(svc: ServiceDep) -> dict[str, str]:
    """The database answers and its schema is current (readiness); 503 otherwise."""
    try:
        if not schema_is_current(svc.engine):  # a query, so it also tells whether the database answers
            raise HTTPException(503, "database schema is not current")
    except HTTPException:
        raise
    except Exception as e:
        raise HTTPException(503, f"database unavailable: {type(e).__name__}") from None
    return {"status": "ready"}


@router.get("/metrics")
def metrics(svc: ServiceDep, p: PrincipalDep) -> Response:
    """Prometheus text format: a token with metrics:read, or an operator's login."""
    if not (p.has_scope("metrics:read") or p.is_operator):
        raise HTTPException(403, "this needs an operator or a token with the metrics:read scope")
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)
