"""nbwarden serve: run the policy service (FastAPI + uvicorn), or set up its accounts and
tokens. Migrations run at every start, once, before any worker process starts. As a
JupyterHub service it reads JUPYTERHUB_SERVICE_URL (where to listen) and
JUPYTERHUB_SERVICE_PREFIX (its path).

On PostgreSQL the service runs as several worker processes (``--workers``) behind one
listening socket, so batches are handled in parallel instead of queueing for one
interpreter. What each worker keeps for itself: its rate limiter (see docs/service.md), its
webhook retry queue; Prometheus counters are shared through files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder unless set), so /metrics answers
the same totals whichever worker is asked."""
from __future__ import annotations

import gc
import getpass
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

SUPERVISOR_PID = "NBWARDEN_SUPERVISOR_PID"  # set for worker processes: the pid they must not outlive

SCOPES = ("events:write", "allowlist:read", "standing:read", "metrics:read")


def register(sub) -> None:
    import importlib.util
    if importlib.util.find_spec("fastapi") is None:  # without the service extra: a stub (cli/__init__)
        raise ModuleNotFoundError("No module named 'fastapi'", name="fastapi")
    p = sub.add_parser("serve", help="run the policy service (standing, appeals, reviews)",
                       description="Run the policy service. Default: SQLite under the data dir, "
                                   "http://127.0.0.1:8765. Settings: NBWARDEN_* variables (docs/service.md).")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8765)")
    p.add_argument("--database-url", help="SQLAlchemy URL (NBWARDEN_DATABASE_URL), e.g. "
                                          "postgresql+psycopg://nbwarden@db/nbwarden")
    p.add_argument("--policy", help="policy file (NBWARDEN_POLICY_PATH)")
    p.add_argument("--development", action="store_true", help="development mode (placeholder secret, http cookies)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes serving requests (default: one per CPU core, at most 4, on PostgreSQL; "
                        "always 1 on SQLite, which has one writer at a time). Example: --workers 2")
    g = p.add_argument_group("set-up (acts and exits)")
    g.add_argument("--add-account", metavar="NAME", help="create or update a local account; password from "
                                                         "NBWARDEN_PASSWORD or a prompt")
    g.add_argument("--role", choices=("user", "reviewer", "operator"), default="user", help="role for --add-account")
    g.add_argument("--issue-token", metavar="NAME", help="issue an API token and print it once")
    g.add_argument("--scopes", default="events:write,allowlist:read",
                   help=f"comma-separated scopes for --issue-token, from: {', '.join(SCOPES)}")
    g.add_argument("--bind-user", help="--issue-token: the token may only report this user's events")
    g.add_argument("--bind-server", help="--issue-token: and only this server's")
    p.set_defaults(func=run)


def _settings(args):
    from ..service.settings import Settings
    over = {}
    if args.database_url:
        over["database_url"] = args.database_url
    if args.policy:
        over["policy_path"] = args.policy
    if args.development:
        over["environment"] = "development"
    if os.environ.get("JUPYTERHUB_SERVICE_PREFIX") and not os.environ.get("NBWARDEN_BASE_PATH"):
        over["base_path"] = os.environ["JUPYTERHUB_SERVICE_PREFIX"].rstrip("/")
    return Settings(**over)


def run(args) -> int:
    from pydantic import ValidationError
    try:
        settings = _settings(args)
    except ValidationError as e:
        for err in e.errors():
            print(f"nbwarden serve: {err['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    if args.add_account or args.issue_token:
        return _setup(args, settings)
    url = settings.resolved_database_url()
    workers = default_workers(url) if args.workers is None else args.workers
    if workers < 1 or (workers > 1 and url.startswith("sqlite")):
        print("nbwarden serve: --workers must be at least 1, and 1 on SQLite (one writer at a time: more "
              "processes would only wait for each other; use PostgreSQL to run several)", file=sys.stderr)
        return 2
    import uvicorn

    host, port = args.host, args.port
    hub_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    if hub_url and (host is None or port is None):
        u = urlparse(hub_url)
        host, port = host or u.hostname, port or u.port
    where = dict(host=host or "127.0.0.1", port=port or 8765, log_config=None, access_log=False, proxy_headers=True,
                 timeout_graceful_shutdown=5)
    if workers == 1:
        from ..service import create_app
        app = create_app(settings)
        _freeze_startup_objects()
        uvicorn.run(app, **where)
        return 0
    return _run_workers(settings, workers, where)


def _freeze_startup_objects() -> None:
    """Move everything built at start-up (modules, routes, pydantic and SQLAlchemy schemas:
    over 100,000 objects) out of the garbage collector's reach. Otherwise every full
    collection walks them all, a pause of tens of milliseconds that lands on whichever
    request is running: the slowest 1% of requests were mostly that."""
    gc.collect()
    gc.freeze()


def default_workers(database_url: str) -> int:
    """One worker per CPU core this process may use, at most 4 (the database wants cores
    too); 1 on SQLite."""
    if database_url.startswith("sqlite"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def _run_workers(settings, workers: int, where: dict) -> int:
    """Migrate once, hand the settings to the workers through the environment, share the
    Prometheus counters through a folder, and let uvicorn supervise the processes."""
    import uvicorn

    from ..service.db import make_engine, migrate
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    engine.dispose()
    settings.resolved_secret()  # generated here once, not raced for by the workers
    for name in ("database_url", "policy_path", "environment", "base_path"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"NBWARDEN_{name.upper()}"] = str(value)
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nbwarden-metrics-")
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):  # counters of an earlier run
        stale.unlink()
    os.environ[SUPERVISOR_PID] = str(os.getpid())
    try:
        uvicorn.run("nbwarden.cli.serve:worker_app", factory=True, workers=workers, **where)
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0


def worker_app():
    """The application of one worker process (uvicorn calls this in each one). Settings
    come from the environment the supervisor prepared; migrations have run already. A
    worker dies with its supervisor (Linux), so a killed service leaves no orphan
    holding the port."""
    from ..service import create_app
    from ..service.context import Service
    from ..service.settings import Settings
    supervisor = int(os.environ.get(SUPERVISOR_PID, "0"))
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if supervisor and os.getppid() != supervisor:  # it died before prctl took effect
        os._exit(1)
    settings = Settings()
    app = create_app(settings, service=Service(settings, run_migrations=False))
    _freeze_startup_objects()
    return app


def _setup(args, settings) -> int:
    from ..service import crud
    from ..service.db import make_engine, make_sessionmaker, migrate
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    with make_sessionmaker(engine)() as db:
        if args.add_account:
            pw = os.environ.get("NBWARDEN_PASSWORD") or getpass.getpass(f"password for {args.add_account}: ")
            if len(pw) < 8:
                print("nbwarden serve: a password needs at least 8 characters", file=sys.stderr)
                return 2
            crud.create_account(db, name=args.add_account, role=args.role, password=pw, tier=None, actor="cli")
            db.commit()
            print(f"account {args.add_account} ({args.role}) ready")
        if args.issue_token:
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            bad = [s for s in scopes if s not in SCOPES]
            if bad:
                print(f"nbwarden serve: unknown scope(s) {', '.join(bad)}; from: {', '.join(SCOPES)}", file=sys.stderr)
                return 2
            plain, _ = crud.create_token(db, name=args.issue_token, scopes=scopes, bound_user=args.bind_user,
                                         bound_server=args.bind_server, actor="cli")
            db.commit()
            print(plain)
    engine.dispose()
    return 0
