"""Logging in to the policy service through JupyterHub (when it runs as a hub service).

``jupyterhub.services.auth.HubOAuth`` does the Hub side (authorization URL, exchanging the
code for a token, reading the user model); this module adapts it to FastAPI: a state bound
to the browser by a cookie, PKCE, and roles taken from the Hub at every login — Hub admins
are operators, members of ``hub_reviewer_group`` are reviewers, everyone else a user.

The login in progress (state, PKCE verifier, where to go next, expiry) travels in that
cookie, signed with the service secret, not in the memory of one process: the Hub's
redirect back may reach any of the service's worker processes.
"""
from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

from ..service.security import sign

STATE_COOKIE = "nbwarden-oauth-state"
LOGIN_SECONDS = 600  # how long a started login may take


class HubLogin:
    STATE_COOKIE = STATE_COOKIE

    def __init__(self, reviewer_group: str, secret: str, secure_cookies: bool = True):
        from jupyterhub.services.auth import HubOAuth  # the hub extra
        self.auth = HubOAuth(cache_max_age=0)
        self.reviewer_group = reviewer_group
        self.key = hmac.new(secret.encode(), b"nbwarden hub login state", "sha256").digest()
        self.secure = secure_cookies

    def redirect_to_hub(self, request: Request, next_path: str) -> RedirectResponse:
        state = secrets.token_urlsafe(16)
        verifier, challenge, method = self.auth.generate_pkce_code_challenge()
        url = self.auth.login_url + "&" + urlencode({"state": state, "code_challenge": challenge,
                                                     "code_challenge_method": method})
        resp = RedirectResponse(url, status_code=302)
        resp.set_cookie(STATE_COOKIE, self._seal([state, time.time() + LOGIN_SECONDS, verifier, next_path]),
                        httponly=True, samesite="lax", secure=self.secure, max_age=LOGIN_SECONDS,
                        path=self.auth.base_url or "/")
        return resp

    def _seal(self, value: list) -> str:
        body = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
        return body + "." + sign(self.key, body.encode())

    def _unseal(self, cookie: str) -> list | None:
        body, _, mac = cookie.rpartition(".")
        if not body or not hmac.compare_digest(mac, sign(self.key, body.encode())):
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(body))
        except ValueError:
            return None

    async def finish(self, request: Request, code: str, state: str) -> tuple[dict, str]:
        """The Hub's user model and the next path, after checking the state."""
        pending = self._unseal(request.cookies.get(STATE_COOKIE, ""))
        if pending is None or pending[1] < time.time() or not secrets.compare_digest(state, pending[0]):
            raise HTTPException(403, "login state mismatch; start the login again")
        _, _, verifier, next_path = pending
        token = await self.auth.token_for_code(code, code_verifier=verifier, sync=False)
        model = await self.auth.user_for_token(token, use_cache=False, sync=False)
        if not model or model.get("kind", "user") != "user":
            raise HTTPException(403, "the Hub did not identify a user")
        return model, next_path

    def role_of(self, model: dict) -> str:
        if model.get("admin"):
            return "operator"
        return "reviewer" if self.reviewer_group in (model.get("groups") or []) else "user"
