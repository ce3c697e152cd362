"""TEST-ONLY stand-in for nbwarden's Jupyter server extension (``nbwarden.jupyter``).

It serves the two REST endpoints the JupyterLab extension calls, with the real engine and
policy, so that the browser test can exercise the dialog before the server extension is
merged. It does NOT guard the kernel websocket and its override tokens are not signed:
never use it outside tests/browser. When ``nbwarden.jupyter`` is importable, the browser
test uses that instead and skips this one.

Configured from the same section as the real extension: ``c.NbwardenConfig.policy_path``,
``tier`` and ``store_path``.
"""
from __future__ import annotations

import json
import secrets

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nbwarden.engine import Engine
from nbwarden.events import Event
from nbwarden.policy import Policy
from nbwarden.policy.model import CATEGORY_NAMES
from nbwarden.reporting import Reporter


def _jupyter_server_extension_points():
    return [{"module": "fake_check_ext"}]


class _Base(APIHandler):
    @property
    def state(self) -> dict:
        return self.settings["fake_nbwarden"]

    def json_body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"null")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            raise web.HTTPError(400, "expected a JSON object with a string 'code'")
        return data

    def record(self, outcome: str, action: str, data: dict) -> None:
        self.state["reporter"].report(Event(source="jupyter", outcome=outcome, action=action,
                                            kernel=data.get("kernel_id"), tier=self.state["tier"],
                                            detail={"via": "fake_check_ext", "path": data.get("path")}))


class CheckHandler(_Base):
    @web.authenticated
    def post(self):
        data = self.json_body()
        st = self.state
        report = st["engine"].check_cell(data["code"], cell=data.get("cell_index"), remember=False)
        decision = st["policy"].decide(report, st["tier"])
        token = secrets.token_urlsafe(16) if decision.action == "warn" else None
        consequence = ""
        if decision.action in ("warn", "block", "terminate") and st["policy"].ladder:
            step = st["policy"].ladder[0].consequence
            consequence = f"If you run it anyway: {step}" if decision.action == "warn" else step
        self.finish(json.dumps({
            "action": decision.action, "category": decision.category,
            "category_name": CATEGORY_NAMES.get(decision.category or "", decision.category),
            "message": decision.message, "findings": [f.to_dict() for f in decision.findings],
            "consequence": consequence, "policy_url": decision.policy_url, "override_token": token,
        }))


class DecisionHandler(_Base):
    @web.authenticated
    def post(self):
        data = self.json_body()
        if data.get("decision") not in ("cancelled", "ran-anyway"):
            raise web.HTTPError(400, "decision must be 'cancelled' or 'ran-anyway'")
        self.record(data["decision"], "warn", data)
        self.set_status(204)
        self.finish()


def _load_jupyter_server_extension(serverapp) -> None:
    cfg = serverapp.config.get("NbwardenConfig", {})
    policy = Policy.load(cfg.get("policy_path") or None)
    serverapp.web_app.settings["fake_nbwarden"] = {
        "engine": Engine.default(), "policy": policy, "tier": cfg.get("tier") or policy.default_tier,
        "reporter": Reporter.from_config(store_path=cfg.get("store_path") or None),
    }
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base, "nbwarden/api/check"), CheckHandler),
        (url_path_join(base, "nbwarden/api/decision"), DecisionHandler),
    ])
    serverapp.log.warning("fake_check_ext: TEST-ONLY stand-in for nbwarden.jupyter is serving /nbwarden/api")
