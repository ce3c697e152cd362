"""The JupyterLab warning dialog, end to end: a real JupyterLab on 127.0.0.1 with nbwarden's
prebuilt extension (src/nbwarden/labextension), a real kernel, Debian's Chromium driven by
Playwright.

The server side is nbwarden's Jupyter server extension (``nbwarden.jupyter``) when it is
installed. Before it existed, a test-only stand-in (``fake_check_ext.py``, same REST
contract, no websocket guard) served the endpoints; exactly one of the two runs.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest

from lab_server import BUILT_EXTENSION, REPO, Lab, notebook, running_lab

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POLICY_URL = "https://policy.test.invalid/usage"
UI_MS = 30_000  # the longest any one thing may take to show on the page

ALLOWED = 'x = 6 * 7\nprint("allowed", x)'
POOL = "stratum+tcp://pool.supportxmr.com:3333"
_HIDDEN = base64.b64encode(f'pool = "{POOL}"'.encode()).decode()
# Mining hidden behind base64: the dialog must show the decoded line with a "decoded" badge.
# Harmless when run: it only sets and prints a string.
HIDDEN_MINING = f'import base64\nexec(base64.b64decode("{_HIDDEN}").decode())\nprint("configured", pool)'
PLAIN_MINING = f'pool = "{POOL}"\nprint("configured", pool)'

# Mining is a "warn" here, so both Cancel and Run anyway are reachable.
WARN_POLICY = f"""
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
# The shipped policy stops mining on every tier ("terminate").
SHIPPED_POLICY = (REPO / "src" / "nbwarden" / "policy" / "default.yaml").read_text()

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


@pytest.fixture(scope="module")
def browser():
    _require_browser_stack()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


class NotebookPage:
    """One notebook open in JupyterLab, with the REST calls and websocket frames it made."""

    def __init__(self, browser, lab: Lab, name: str):
        from playwright.sync_api import expect
        self.api: list[tuple[str, int, dict, dict | None]] = []  # (endpoint, status, request, answer)
        self.frames: list[bytes] = []  # what the page sent on kernel websockets
        self.page = browser.new_page(viewport={"width": 1280, "height": 860})
        self.page.on("response", self._on_response)
        self.page.on("websocket", self._on_websocket)
        self.kernel_sockets: list[str] = []
        self.page.goto(lab.url(f"lab/tree/{name}"))
        self.cells = self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        self.dialog = self.page.locator(".jp-Dialog")
        self.buttons = self.dialog.locator(".jp-Dialog-footer button")
        expect(self.cells.first).to_be_visible(timeout=UI_MS * 2)
        # The indicator says "idle" before the kernel exists: wait for its websocket too.
        self.wait_for(lambda: self.kernel_sockets, "the kernel websocket", UI_MS * 3)
        kernel = self.page.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")
        expect(kernel).to_have_attribute("data-status", "idle", timeout=UI_MS * 3)

    def close(self, name: str) -> None:
        """Close the page, keeping its last sight in test-artifacts/ (what a failure looked like)."""
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            self.page.screenshot(path=str(ARTIFACTS / f"{name}-last.png"))
        finally:
            self.page.close()

    def run(self, i: int) -> None:
        """Select cell i, then press the toolbar's Run button (sturdier than a key press
        that lands before the notebook has focus)."""
        from playwright.sync_api import expect
        cell = self.cells.nth(i)
        cell.locator(".jp-InputPrompt").click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
        self.page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:run-cell-and-select-next"]').click()

    def outputs(self, i: int):
        return self.cells.nth(i).locator(".jp-OutputArea-output")

    def prompt(self, i: int) -> str:
        return self.cells.nth(i).locator(".jp-InputArea-prompt").inner_text().replace("\xa0", " ").strip()

    def calls(self, endpoint: str) -> list[tuple[int, dict, dict | None]]:
        return [c[1:] for c in self.api if c[0] == endpoint]

    def wait_for(self, cond, what: str, timeout_ms: int = UI_MS) -> None:
        """Poll with the page's own timer: Playwright delivers events only inside its calls."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not cond():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; nbwarden calls: {self.api}")
            self.page.wait_for_timeout(100)

    def _on_response(self, response) -> None:
        if "/nbwarden/api/" not in response.url:
            return
        endpoint = response.url.split("?")[0].rsplit("/", 1)[-1]
        answer = None
        if response.status == 200:
            try:
                answer = response.json()
            except Exception:  # noqa: BLE001 - kept as None; the assertions say what was expected
                answer = None
        self.api.append((endpoint, response.status, json.loads(response.request.post_data or "{}"), answer))

    def _on_websocket(self, ws) -> None:
        if "/api/kernels/" in ws.url:
            self.kernel_sockets.append(ws.url)
        ws.on("framesent", self._on_frame)

    def _on_frame(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())


@pytest.fixture
def warn_lab(server_extension, tmp_path):
    _require_browser_stack()
    with running_lab(tmp_path, extension=server_extension, policy=WARN_POLICY,
                     notebooks={"demo.ipynb": notebook(ALLOWED, HIDDEN_MINING)}) as lab:
        yield lab


@pytest.fixture
def shipped_policy_lab(server_extension, tmp_path):
    _require_browser_stack()
    with running_lab(tmp_path, extension=server_extension, policy=SHIPPED_POLICY,
                     notebooks={"miner.ipynb": notebook(PLAIN_MINING)}) as lab:
        yield lab


@pytest.fixture
def lab_without_server_extension(tmp_path):
    _require_browser_stack()
    with running_lab(tmp_path, extension=None, policy=SHIPPED_POLICY,
                     notebooks={"miner.ipynb": notebook(PLAIN_MINING)}) as lab:
        yield lab


def _outcomes(store: Path) -> list[str]:
    from nbwarden.reporting.store import LocalStore
    if not store.exists():
        return []
    s = LocalStore(store)
    try:
        return [e.outcome for e in s.recent(limit=1000)]
    finally:
        s.close()


def test_warn_dialog_cancel_then_run_anyway(browser, warn_lab):
    from playwright.sync_api import expect

    nb = NotebookPage(browser, warn_lab, "demo.ipynb")
    try:
        # 1. An allowed cell runs with no dialog.
        nb.run(0)
        expect(nb.outputs(0)).to_contain_text("allowed 42", timeout=UI_MS * 2)
        expect(nb.page.locator(".nbw-dialog")).to_have_count(0)

        # 2. The disallowed cell: the dialog names the category and shows the evidence.
        nb.run(1)
        body = nb.dialog.locator(".nbw-dialog")
        expect(body).to_be_visible(timeout=UI_MS)
        expect(nb.dialog.locator(".jp-Dialog-header")).to_contain_text("This looks like cryptocurrency mining")
        expect(body).to_have_attribute("data-action", "warn")
        finding = body.locator('.nbw-finding[data-rule-id="NBW201"]')
        expect(finding.locator(".nbw-explanation")).to_contain_text("stratum")
        evidence = finding.locator(".nbw-evidence").first
        expect(evidence.locator(".nbw-where")).to_contain_text("this cell, line 2")
        expect(evidence.locator(".nbw-decoded")).to_be_visible()
        expect(evidence.locator(".nbw-snippet")).to_contain_text(f'b64decode("{_HIDDEN}")')  # as written
        expect(evidence.locator(".nbw-decoded-text")).to_contain_text(f'pool = "{POOL}"')  # what it hides
        expect(evidence.locator(".nbw-decoded-text .nbw-match").first).to_have_text(POOL)
        expect(body.locator(".nbw-consequence")).not_to_be_empty()
        expect(body.locator(".nbw-policy-link")).to_have_attribute("href", POLICY_URL)
        expect(nb.buttons).to_have_text(["Cancel", "Run anyway"])
        ARTIFACTS.mkdir(exist_ok=True)
        nb.page.screenshot(path=str(ARTIFACTS / "lab-dialog.png"))

        # 3. Cancel: the cell is not run, and the decision is recorded.
        nb.buttons.filter(has_text="Cancel").click()
        expect(body).to_have_count(0, timeout=UI_MS)
        nb.wait_for(lambda: nb.calls("decision"), "the cancelled decision to be posted")
        nb.page.wait_for_timeout(500)  # a cell that was (wrongly) sent would show output by now
        expect(nb.outputs(1)).to_have_count(0)
        assert nb.prompt(1) == "[ ]:"

        # 4. Again, Run anyway: the cell runs, carrying the override token the server issued.
        nb.run(1)
        expect(body).to_be_visible(timeout=UI_MS)
        nb.buttons.filter(has_text="Run anyway").click()
        expect(nb.outputs(1)).to_contain_text(f"configured {POOL}", timeout=UI_MS * 2)
        assert nb.prompt(1) == "[2]:"
        nb.wait_for(lambda: len(nb.calls("decision")) == 2, "the ran-anyway decision to be posted")
    finally:
        nb.close("warn")

    checks = nb.calls("check")
    assert [(status, answer["action"]) for status, _, answer in checks] == [
        (200, "allow"), (200, "warn"), (200, "warn")], nb.api
    _, request, _ = checks[1]
    assert request["cell_index"] == 1 and request["kernel_id"] and request["path"].endswith("demo.ipynb")
    assert request["code"] == HIDDEN_MINING
    assert [(status, req["decision"]) for status, req, _ in nb.calls("decision")] == [
        (204, "cancelled"), (204, "ran-anyway")]
    refused, used = checks[1][2]["override_token"], checks[2][2]["override_token"]
    sent = b"".join(nb.frames)
    assert used and used.encode() in sent, "the override token never reached the kernel websocket"
    assert refused.encode() not in sent, "the token of the cancelled run was sent"
    outcomes = _outcomes(warn_lab.store)
    assert "cancelled" in outcomes and "ran-anyway" in outcomes, outcomes


def test_terminate_dialog_offers_only_close(browser, shipped_policy_lab):
    from playwright.sync_api import expect

    nb = NotebookPage(browser, shipped_policy_lab, "miner.ipynb")
    try:
        nb.run(0)
        body = nb.dialog.locator(".nbw-dialog")
        expect(body).to_be_visible(timeout=UI_MS * 2)
        expect(body).to_have_attribute("data-action", "terminate")
        expect(body.locator(".nbw-evidence").first.locator(".nbw-where")).to_contain_text("this cell, line 1")
        expect(body.locator(".nbw-decoded")).to_have_count(0)  # written in plain sight
        expect(body.locator(".nbw-appeal")).to_contain_text("appeal")
        expect(nb.buttons).to_have_text(["Close"])
        expect(nb.page.locator(".Toastify__toast--error")).to_contain_text("cryptocurrency mining")
        nb.buttons.click()
        expect(body).to_have_count(0, timeout=UI_MS)
        nb.page.wait_for_timeout(500)
        expect(nb.outputs(0)).to_have_count(0)
        assert nb.prompt(0) == "[ ]:"
    finally:
        nb.close("terminate")
    assert [answer["action"] for _, _, answer in nb.calls("check")] == ["terminate"]
    assert nb.calls("decision") == []  # nothing to decide: there was no choice
    assert b"stratum" not in b"".join(nb.frames), "the refused cell reached the kernel websocket"


def test_without_the_server_extension_cells_run_as_in_plain_jupyterlab(browser, lab_without_server_extension):
    """The check endpoint answers 404: the executor runs the cell as JupyterLab would (where
    the server extension is enabled it also guards the websocket, so nothing is lost)."""
    from playwright.sync_api import expect

    nb = NotebookPage(browser, lab_without_server_extension, "miner.ipynb")
    try:
        nb.run(0)
        expect(nb.outputs(0)).to_contain_text(f"configured {POOL}", timeout=UI_MS * 2)
        expect(nb.page.locator(".nbw-dialog")).to_have_count(0)
    finally:
        nb.close("no-server-extension")
    assert [status for status, _, _ in nb.calls("check")] == [404]
