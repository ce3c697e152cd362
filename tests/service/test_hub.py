"""Against a real JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner,
configurable-http-proxy from npm) with nbwarden as a hub-managed service holding only the
``read:servers`` and ``delete:servers`` scopes: a user who reaches suspension has every
server stopped (the default one and named ones), the
pre_spawn_hook refuses their next spawn with the reason and the appeal link, other users
spawn as usual, and people log in to the service's pages through the Hub (OAuth)."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import ROOT, fresh_pg_db, issue_token
from .server import die_with_parent
from .factory import event
from .pg import free_port
from .test_browser import CHROMIUM, FLAGS

CHP = ROOT / ".npm-tools" / "node_modules" / ".bin" / "configurable-http-proxy"
SCOPES = ["read:servers", "delete:servers"]  # the nbwarden service role: nothing more is needed


def wait_for(pred, timeout: float, what: str, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def hub(tmp_path, pg_cluster):
    """A hub managing ``nbwarden serve`` on PostgreSQL, so the service runs its default
    worker processes and a login's redirect back may reach another worker than its start."""
    pytest.importorskip("jupyterhub", reason="jupyterhub (test extra) is not installed")
    chp = str(CHP) if CHP.exists() else shutil.which("configurable-http-proxy")
    if not chp:
        pytest.skip("configurable-http-proxy is missing (scripts/install.sh installs it with npm into .npm-tools)")
    if not shutil.which("node"):
        pytest.skip("node is missing; configurable-http-proxy needs it")
    db_url = fresh_pg_db(pg_cluster)
    hub_token = issue_token(db_url, name="hub", scopes=("standing:read",))
    reporter = issue_token(db_url, name="node-agent")
    port, hub_port, proxy_api, svc_port = free_port(), free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(16)
    svc_url = f"http://127.0.0.1:{svc_port}"
    cfg = tmp_path / "jupyterhub_config.py"
    cfg.write_text(f"""
import sys
from nbwarden.hub import make_pre_spawn_hook
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.JupyterHub.db_url = "sqlite:///{tmp_path / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{tmp_path / 'cookie_secret'}"
c.JupyterHub.pid_file = "{tmp_path / 'hub.pid'}"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "hub-password"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"otto"}}
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.allow_named_servers = True
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp_path}/home/{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--ServerApp.allow_root=True"]
c.Spawner.start_timeout = 240
c.Spawner.http_timeout = 240
c.Spawner.pre_spawn_hook = make_pre_spawn_hook(service_url={svc_url!r}, token={hub_token!r}, fail_open=False)
c.JupyterHub.services = [
    {{"name": "nbwarden", "url": {svc_url!r}, "oauth_no_confirm": True,
      "oauth_client_allowed_scopes": ["read:users:groups!user"],
      "command": [sys.executable, "-m", "nbwarden", "serve"],
      "environment": {{"NBWARDEN_DATABASE_URL": {db_url!r}, "NBWARDEN_DATA_DIR": "{tmp_path}",
                       "NBWARDEN_ENVIRONMENT": "development", "NBWARDEN_PUBLIC_URL": "http://127.0.0.1:{port}"}}}},
    {{"name": "test-driver", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "nbwarden", "scopes": {SCOPES!r}, "services": ["nbwarden"]}},
    {{"name": "admin", "services": ["test-driver"]}},
    {{"name": "user", "scopes": ["self", "access:services!service=nbwarden"]}},
]
""")
    log = open(tmp_path / "hub.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(cfg)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}/hub/api", headers={"Authorization": f"token {admin_token}"},
                       timeout=120)

    def up():
        if proc.poll() is not None:
            raise RuntimeError("jupyterhub exited: " + (tmp_path / "hub.log").read_text()[-3000:])
        try:
            return api.get("/").status_code == 200 and httpx.get(f"{svc_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_for(up, 240, "the hub and the nbwarden service")
        yield {"api": api, "url": f"http://127.0.0.1:{port}", "svc": svc_url, "reporter": reporter,
               "log": tmp_path / "hub.log", "tmp": tmp_path}
    finally:
        api.close()
        proc.terminate()  # the hub stops its managed service and the proxy it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def server_state(api, name, server: str = "") -> dict | None:
    return api.get(f"/users/{name}").json()["servers"].get(server)


def spawn(api, name, server: str = "") -> httpx.Response:
    r = api.post(f"/users/{name}/server" + (f"s/{server}" if server else ""))
    if r.status_code in (201, 202):
        wait_for(lambda: (server_state(api, name, server) or {}).get("ready"), 240, f"{name}'s server {server!r}")
    return r


def test_suspension_stops_server_and_refuses_spawn(hub):
    api = hub["api"]
    for name in ("ada", "bob"):
        assert api.post(f"/users/{name}").status_code in (201, 409)
    assert spawn(api, "ada").status_code in (201, 202)
    assert spawn(api, "ada", "gpu").status_code in (201, 202)  # a named server too
    assert server_state(api, "ada")["ready"] and server_state(api, "ada", "gpu")["ready"]

    r = httpx.post(f"{hub['svc']}/api/events", json=[event(user="ada", content_hash=f"x{i}") for i in range(3)],
                   headers={"Authorization": f"Bearer {hub['reporter']}"})
    assert r.status_code == 200 and r.json()["strikes"] == 3
    wait_for(lambda: server_state(api, "ada") is None and server_state(api, "ada", "gpu") is None, 120,
             "the hub to stop both of ada's servers")

    r = api.post("/users/ada/server")
    assert r.status_code >= 400, r.text
    msg = r.json()["message"]
    assert "suspended" in msg and "http://127.0.0.1" in msg and "/me" in msg and "mining" in msg, msg
    assert server_state(api, "ada") is None

    assert spawn(api, "bob").status_code in (201, 202)  # someone in good standing spawns as usual
    api.delete("/users/bob/server")


def test_people_log_in_through_the_hub(hub):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing")
    api = hub["api"]
    for name in ("rita", "otto", "ada"):
        api.post(f"/users/{name}")
    api.post("/groups/nbwarden-reviewers")
    assert api.post("/groups/nbwarden-reviewers/users", json={"users": ["rita"]}).status_code == 200
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            roles = {}
            for name in ("rita", "ada"):
                page = browser.new_context().new_page()
                page.goto(f"{hub['url']}/hub/login")
                page.fill("input[name=username]", name)
                page.fill("input[name=password]", "hub-password")
                page.click("input[type=submit], button[type=submit]")
                page.wait_for_load_state()
                r = page.goto(f"{hub['url']}/services/nbwarden/queue")
                roles[name] = (r.status, page.url)
            assert roles["rita"][0] == 200 and roles["rita"][1].endswith("/services/nbwarden/queue"), roles
            assert roles["ada"][0] == 403, roles  # logged in, but not a reviewer
        finally:
            browser.close()
