"""The REST API the JupyterLab front end calls (all under ``/nbwarden/api``, authenticated
and XSRF-checked like every Jupyter API handler):

    POST /check     {"code", "kernel_id", "path", "cell_index"} -> the decision, without running
    POST /decision  {"kernel_id", "code", "decision": "cancelled"|"ran-anyway", "path"} -> 204
    GET  /policy    the published policy: table, ladder, url, this user's tier
    GET  /events?limit=N   this user's recent local events, newest first
"""
from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .connection import SETTINGS_KEY
from .guard import Guard
from .identity import user_name
from .scripts import kernel_cwd
from .sessions import notebook_path


class _Base(APIHandler):
    @property
    def guard(self) -> Guard:
        return self.settings[SETTINGS_KEY]

    @property
    def user(self) -> str | None:
        return user_name(self)

    def body(self, schema: dict[str, tuple[type, ...]], required: tuple[str, ...]) -> dict[str, Any]:
        """The JSON body, checked against {field: allowed types}; 400 with a clear reason."""
        try:
            data = json.loads(self.request.body or b"null")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        for key in required:
            if key not in data:
                raise web.HTTPError(400, f"missing field {key!r}")
        for key, types in schema.items():
            value = data.get(key)
            if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise web.HTTPError(400, f"field {key!r} must be {names}")
        return data

    def _cwd(self, kernel_id: str | None) -> str | None:
        """The kernel's working folder, where `%run x.py` finds its script."""
        if not kernel_id or kernel_id not in self.kernel_manager:
            return None
        return kernel_cwd(self.kernel_manager.get_kernel(kernel_id), self.kernel_manager.root_dir)

    def _path(self, kernel_id: str | None, given: str | None) -> str | None:
        """The notebook: the server's own record of the kernel's session, else what the
        client says (a check before any kernel exists)."""
        return notebook_path(self.settings.get("session_manager"), kernel_id) or given


class CheckHandler(_Base):
    @web.authenticated
    def post(self):
        d = self.body({"code": (str,), "kernel_id": (str, type(None)), "path": (str, type(None)),
                       "cell_index": (int, type(None))}, required=("code",))
        if d["code"] is None:
            raise web.HTTPError(400, "field 'code' must be str")
        kid = d.get("kernel_id")
        self.finish(json.dumps(self.guard.check_only(code=d["code"], kernel_id=kid, user=self.user,
                                                     path=self._path(kid, d.get("path")),
                                                     cell_index=d.get("cell_index"),
                                                     cwd=self._cwd(kid))))


class DecisionHandler(_Base):
    @web.authenticated
    def post(self):
        d = self.body({"code": (str,), "kernel_id": (str, type(None)), "path": (str, type(None)),
                       "decision": (str,)}, required=("code", "decision"))
        if d["decision"] not in ("cancelled", "ran-anyway"):
            raise web.HTTPError(400, "field 'decision' must be \"cancelled\" or \"ran-anyway\"")
        if d["code"] is None:
            raise web.HTTPError(400, "field 'code' must be str")
        kid = d.get("kernel_id")
        self.guard.record_choice(kernel_id=kid, code=d["code"], choice=d["decision"], user=self.user,
                                 path=self._path(kid, d.get("path")), cwd=self._cwd(kid))
        self.set_status(204)
        self.finish()


class PolicyHandler(_Base):
    @web.authenticated
    def get(self):
        self.finish(json.dumps(self.guard.policy_json(self.user)))


class EventsHandler(_Base):
    @web.authenticated
    def get(self):
        try:
            limit = int(self.get_argument("limit", "50"))
        except ValueError:
            raise web.HTTPError(400, "limit must be a whole number") from None
        limit = max(1, min(limit, 1000))
        events = self.guard.reporter.recent(self.user, limit=limit)
        self.finish(json.dumps([e.to_dict() for e in events]))


def handlers(base_url: str) -> list[tuple[str, type]]:
    api = url_path_join(base_url, "nbwarden", "api")
    return [(url_path_join(api, "check"), CheckHandler), (url_path_join(api, "decision"), DecisionHandler),
            (url_path_join(api, "policy"), PolicyHandler), (url_path_join(api, "events"), EventsHandler)]
