"""The nbwarden policy service: the authoritative record of every user's standing.

Reporters (Jupyter servers, kernels, node agents) send events; the service turns those that
count into strikes, derives standing by the published ladder, lets users appeal and
reviewers decide, keeps an append-only audit log, and answers JupyterHub before a spawn.

    nbwarden serve                      # SQLite under the data dir, http://127.0.0.1:8765
    NBWARDEN_DATABASE_URL=postgresql+psycopg://... nbwarden serve --host 0.0.0.0

Layers: ``settings`` -> ``models`` / ``db`` / ``migrations`` -> ``crud`` -> ``routers`` (JSON
API) and ``pages`` (server-rendered HTML), auth in ``deps`` and ``security``, operations in
``metrics``, ``webhooks``, ``logs``.
"""
from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
