"""nbwarden serve: run the policy service (FastAPI + uvicorn), or set up its accounts and
tokens. Migrations run at every start. As a JupyterHub service it reads
JUPYTERHUB_SERVICE_URL (where to listen) and JUPYTERHUB_SERVICE_PREFIX (its path)."""
from __future__ import annotations

import getpass
import os
import sys
from urllib.parse import urlparse

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
    import uvicorn

    from ..service import create_app
    host, port = args.host, args.port
    hub_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    if hub_url and (host is None or port is None):
        u = urlparse(hub_url)
        host, port = host or u.hostname, port or u.port
    app = create_app(settings)
    uvicorn.run(app, host=host or "127.0.0.1", port=port or 8765, log_config=None, access_log=False,
                proxy_headers=True, timeout_graceful_shutdown=5)
    return 0


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
