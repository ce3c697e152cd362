"""The JupyterLab warning dialog, end to end: a real JupyterLab on 127.0.0.1 with nbwarden's
prebuilt extension (src/nbwarden/labextension), a real kernel, Debian's Chromium driven by
Playwright.

The server side is nbwarden's Jupyter server extension (``nbwarden.jupyter``) when it is
installed. Before it existed, a test-only stand-in (``fake_check_ext.py``, same REST
contract, no websocket guard) served the endpoints; exactly one of the two runs.

The policy used turns mining into a "warn" so that both Cancel and Run anyway are reachable.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT_EXTENSION = REPO / "src" / "nbwarden" / "labextension"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POLICY_URL = "https://policy.test.invalid/usage"
STARTUP_S = 90  # JupyterLab on a busy 2-core machine
UI_MS = 30_000  # any one thing the page must show

ALLOWED = 'x = 6 * 7\nprint("allowed", x)'
_HIDDEN = base64.b64encode(b'pool = "stratum+tcp://pool.supportxmr.com:3333"').decode()
# Mining hidden behind base64: the dialog must show the decoded line with a "decoded" badge.
# Harmless when run: it only sets and prints a string.
DISALLOWED = f'import base64\nexec(base64.b64decode("{_HIDDEN}").decode())\nprint("configured", pool)'

POLICY = f"""
version: 1
name: browser test policy
url: {POLICY_URL}
tiers: [free]
actions:
  mining: {{free: warn}}
ladder:
  window_days: 30
  steps:
    - {{strikes: 1, standing: warned, consequence: "This is your first warning."}}
    - {{strikes: 2, standing: restricted, consequence: "GPU access is restricted for 7 days."}}
"""

pytestmark = pytest.mark.timeout(300)


def _require_browser_stack() -> None:
    pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed "
                        "(it is in the test extra: pip install -e '.[all,test]')")
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (the jupyter extra)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (scripts/install.sh installs it)")
    if not (BUILT_EXTENSION / "package.json").is_file():
        pytest.skip("the prebuilt lab extension is missing: run scripts/build-labextension.sh")


@pytest.fixture(scope="module", params=["nbwarden.jupyter", "stand-in"])
def server_extension(request) -> str:
    """The Python module serving /nbwarden/api on the JupyterLab server."""
    real = importlib.util.find_spec("nbwarden.jupyter") is not None
    if request.param == "nbwarden.jupyter":
        pytest.importorskip("nbwarden.jupyter", reason="nbwarden's Jupyter server extension "
                            "(nbwarden.jupyter) is not installed yet; the stand-in test covers the dialog")
        return "nbwarden.jupyter"
    if real:
        pytest.skip("the real server extension nbwarden.jupyter is installed and tested instead; "
                    "the stand-in only served before it existed")
    return "fake_check_ext"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook() -> dict:
    def cell(src: str) -> dict:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
    return {"cells": [cell(ALLOWED), cell(DISALLOWED)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def lab(server_extension, tmp_path_factory):
    """A real JupyterLab with the extension, a notebook and the test policy; yields its facts."""
    _require_browser_stack()
    tmp = tmp_path_factory.mktemp("lab")
    root, config, labext = tmp / "root", tmp / "config", tmp / "labextensions"
    for d in (root, config, labext):
        d.mkdir()
    (root / "demo.ipynb").write_text(json.dumps(_notebook()))
    (tmp / "policy.yaml").write_text(POLICY)
    # JupyterLab finds an extension by its folder name; point it at the committed build.
    (labext / "nbwarden").symlink_to(BUILT_EXTENSION, target_is_directory=True)
    store = tmp / "events.sqlite"
    # No "Jupyter news?" toast, no update check: nothing may reach outside 127.0.0.1.
    notification = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {server_extension: True}},
        "NbwardenConfig": {"policy_path": str(tmp / "policy.yaml"), "tier": "free", "store_path": str(store)},
        "LabApp": {"extra_labextensions_path": [str(labext)], "news_url": None,
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "extension_manager": "readonly",
                   "workspaces_dir": str(tmp / "workspaces"), "user_settings_dir": str(tmp / "settings")},
    }))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "IPYTHONDIR": str(tmp / "ipython"),
           "NBWARDEN_DATA_DIR": str(tmp / "nbwarden"), "JUPYTER_PLATFORM_DIRS": "1"}
    if server_extension == "fake_check_ext":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")]))
    token, port = secrets.token_hex(16), _free_port()
    log = (tmp / "lab.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--IdentityProvider.token={token}", f"--port={port}",
         "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
         "--allow-root"],  # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, f"{base}/api/status?token={token}", tmp / "lab.log")
        yield {"base": base, "token": token, "store": store, "log": tmp / "lab.log", "extension": server_extension}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def _outcomes(store: Path) -> list[str]:
    from nbwarden.reporting.store import LocalStore
    if not store.exists():
        return []
    s = LocalStore(store)
    try:
        return [e.outcome for e in s.recent(limit=1000)]
    finally:
        s.close()


def test_lab_dialog_cancel_then_run_anyway(lab):
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    api_calls: list[tuple[str, int, dict, dict | None]] = []  # (endpoint, status, request, answer)
    sent_frames: list[bytes] = []

    def on_response(response):
        if "/nbwarden/api/" not in response.url:
            return
        endpoint = response.url.rsplit("/", 1)[-1].split("?")[0]
        body = None
        if response.status == 200:
            try:
                body = response.json()
            except Exception:  # noqa: BLE001 - recorded as None, asserted below
                body = None
        api_calls.append((endpoint, response.status, json.loads(response.request.post_data or "{}"), body))

    def on_websocket(ws):
        def sent(payload):
            sent_frames.append(payload if isinstance(payload, bytes) else payload.encode())
        ws.on("framesent", sent)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("response", on_response)
            page.on("websocket", on_websocket)
            page.goto(f"{lab['base']}/lab/tree/demo.ipynb?token={lab['token']}")
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cells).to_have_count(2, timeout=UI_MS * 2)

            def run(i: int) -> None:
                cells.nth(i).locator(".jp-InputPrompt").click()
                page.keyboard.press("Control+Enter")

            def prompt(i: int):
                return cells.nth(i).locator(".jp-InputArea-prompt")

            # 1. An allowed cell runs with no dialog.
            run(0)
            expect(cells.nth(0).locator(".jp-OutputArea-output")).to_contain_text("allowed 42", timeout=UI_MS * 2)
            expect(page.locator(".nbw-dialog")).to_have_count(0)

            # 2. The disallowed cell: the dialog names the category and shows the evidence.
            run(1)
            dialog = page.locator(".jp-Dialog")
            expect(dialog.locator(".nbw-dialog")).to_be_visible(timeout=UI_MS)
            expect(dialog.locator(".jp-Dialog-header")).to_contain_text("This looks like cryptocurrency mining")
            expect(dialog.locator(".nbw-action-warn")).to_have_count(1)
            finding = dialog.locator('.nbw-finding[data-rule-id="NBW201"]')
            expect(finding).to_have_count(1)
            expect(finding.locator(".nbw-explanation")).to_contain_text("stratum")
            evidence = finding.locator(".nbw-evidence").first
            expect(evidence.locator(".nbw-where")).to_contain_text("this cell, line 2")
            expect(evidence.locator(".nbw-decoded")).to_be_visible()
            expect(evidence.locator(".nbw-snippet")).to_contain_text('pool = "stratum+tcp://pool.supportxmr.com:3333"')
            expect(evidence.locator(".nbw-match").first).to_contain_text("stratum+tcp://pool.supportxmr.com:3333")
            expect(dialog.locator(".nbw-consequence")).not_to_be_empty()
            expect(dialog.locator(".nbw-policy-link")).to_have_attribute("href", POLICY_URL)
            expect(dialog.locator(".jp-Dialog-footer").get_by_role("button", name="Run anyway")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "lab-dialog.png"))

            # 3. Cancel: the cell is not run and the decision is recorded.
            dialog.locator(".jp-Dialog-footer").get_by_role("button", name="Cancel").click()
            expect(page.locator(".nbw-dialog")).to_have_count(0, timeout=UI_MS)
            _wait_for(page, lambda: any(c[0] == "decision" for c in api_calls), "the cancelled decision to be posted")
            page.wait_for_timeout(500)  # a cell that was (wrongly) sent would show output by now
            expect(cells.nth(1).locator(".jp-OutputArea-output")).to_have_count(0)
            assert prompt(1).inner_text().replace("\xa0", " ").strip() == "[ ]:"

            # 4. Run again, Run anyway: the cell runs with the override token the server issued.
            run(1)
            expect(dialog.locator(".nbw-dialog")).to_be_visible(timeout=UI_MS)
            dialog.locator(".jp-Dialog-footer").get_by_role("button", name="Run anyway").click()
            expect(cells.nth(1).locator(".jp-OutputArea-output")).to_contain_text(
                "configured stratum+tcp://pool.supportxmr.com:3333", timeout=UI_MS * 2)
            expect(prompt(1)).to_have_text("[2]:")
        finally:
            browser.close()

    checks = [c for c in api_calls if c[0] == "check"]
    decisions = [(c[1], c[2].get("decision")) for c in api_calls if c[0] == "decision"]
    assert [c[1] for c in checks] == [200, 200, 200], api_calls  # allowed cell + disallowed twice
    assert [c[3]["action"] for c in checks] == ["allow", "warn", "warn"]
    assert checks[1][2]["cell_index"] == 1 and checks[1][2]["kernel_id"]
    assert decisions == [(204, "cancelled"), (204, "ran-anyway")]
    token = checks[2][3]["override_token"]
    assert token and any(token.encode() in f for f in sent_frames), "the override token never reached the kernel"
    assert checks[1][3]["override_token"] not in b"".join(sent_frames).decode("utf-8", "replace")
    outcomes = _outcomes(lab["store"])
    assert "cancelled" in outcomes and "ran-anyway" in outcomes, outcomes
    print(f"\nlab dialog test ({lab['extension']}): {time.monotonic() - started:.1f} s in the browser")


def _wait_for(page, cond, what: str, timeout_s: float = UI_MS / 1000) -> None:
    """Poll with the page's own timer: Playwright delivers events only inside its calls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        page.wait_for_timeout(100)
    pytest.fail(f"timed out waiting for {what}")
