"""Settings and the serve command's set-up actions, through the real command line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from nbwarden.service.settings import Settings


@pytest.mark.parametrize("secret", ["changethis", "change-me", "secret", "short"])
def test_placeholder_secret_refused_outside_development(secret):
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(secret_key=secret)
    assert Settings(secret_key=secret, environment="development").secret_key == secret


def test_secret_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.setenv("NBWARDEN_DATA_DIR", str(tmp_path))
    a, b = Settings().resolved_secret(), Settings().resolved_secret()
    assert a == b and len(a) >= 32
    assert oct((tmp_path / "service.secret").stat().st_mode & 0o777) == "0o600"
    assert Settings().resolved_database_url() == f"sqlite:///{tmp_path / 'service.sqlite'}"


def run_cli(*args, env=None, input=None):
    return subprocess.run([sys.executable, "-m", "nbwarden", "serve", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=input, timeout=120)


def test_cli_refuses_placeholder_secret(tmp_path):
    r = run_cli("--add-account", "x", env={"NBWARDEN_SECRET_KEY": "changethis", "NBWARDEN_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2 and "placeholder" in r.stderr and "Traceback" not in r.stderr


def test_cli_sets_up_accounts_and_tokens(tmp_path):
    env = {"NBWARDEN_DATA_DIR": str(tmp_path), "NBWARDEN_PASSWORD": "operator-password"}
    r = run_cli("--add-account", "otto", "--role", "operator", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("--issue-token", "hub", "--scopes", "standing:read", env=env)
    assert r.returncode == 0 and r.stdout.strip().startswith("nbw_")
    r = run_cli("--issue-token", "bad", "--scopes", "root", env=env)
    assert r.returncode == 2 and "unknown scope" in r.stderr
    from sqlalchemy import create_engine, text
    eng = create_engine(f"sqlite:///{tmp_path / 'service.sqlite'}")
    with eng.connect() as c:
        assert c.execute(text("SELECT role FROM users WHERE name='otto'")).scalar() == "operator"
        stored = c.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    eng.dispose()
    assert len(stored) == 1 and r.stdout.strip() not in stored  # only the hash is kept


def test_cli_refuses_several_workers_on_sqlite(tmp_path):
    r = run_cli("--workers", "2", env={"NBWARDEN_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2 and "1 on SQLite" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("url", ["postgresql://db/nbwarden", "postgresql+psycopg2://db/nbwarden", "mysql://db/x"])
def test_cli_refuses_a_database_it_cannot_drive(tmp_path, url):
    r = run_cli("--issue-token", "x", env={"NBWARDEN_DATABASE_URL": url, "NBWARDEN_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2 and "postgresql+psycopg://" in r.stderr and "Traceback" not in r.stderr
