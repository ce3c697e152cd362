"""Logging in to the policy service through JupyterHub (when it runs as a hub service).

``jupyterhub.services.auth.HubOAuth`` does the Hub side (authorization URL, exchanging the
code for a token, reading the user model); this module adapts it to FastAPI: a state bound
to the browser by a cookie, PKCE, and roles taken from the Hub at every login — Hub admins
are operators, members of ``hub_reviewer_group`` are reviewers, everyone else a user.
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

STATE_COOKIE = "nbwarden-oauth-state"


class HubLogin:
    def __init__(self, reviewer_group: str, secure_cookies: bool = True):
        from jupyterhub.services.auth import HubOAuth  # the hub extra
        self.auth = HubOAuth(cache_max_age=0)
        self.reviewer_group = reviewer_group
        self.secure = secure_cookies
        self._pending: dict[str, tuple[float, str, str]] = {}  # state -> (expiry, code verifier, next path)

    def redirect_to_hub(self, request: Request, next_path: str) -> RedirectResponse:
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v[0] > now}
        state = secrets.token_urlsafe(16)
        verifier, challenge, method = self.auth.generate_pkce_code_challenge()
        self._pending[state] = (now + 600, verifier, next_path)
        url = self.auth.login_url + "&" + urlencode({"state": state, "code_challenge": challenge,
                                                     "code_challenge_method": method})
        resp = RedirectResponse(url, status_code=302)
        resp.set_cookie(STATE_COOKIE, state, httponly=True, samesite="lax", secure=self.secure, max_age=600,
                        path=self.auth.base_url or "/")
        return resp

    async def finish(self, request: Request, code: str, state: str) -> tuple[dict, str]:
        """The Hub's user model and the next path, after checking the state."""
        pending = self._pending.pop(state, None)
        if pending is None or not secrets.compare_digest(state, request.cookies.get(STATE_COOKIE, "")):
            raise HTTPException(403, "login state mismatch; start the login again")
        _, verifier, next_path = pending
        token = await self.auth.token_for_code(code, code_verifier=verifier, sync=False)
        model = await self.auth.user_for_token(token, use_cache=False, sync=False)
        if not model or model.get("kind", "user") != "user":
            raise HTTPException(403, "the Hub did not identify a user")
        return model, next_path

    def role_of(self, model: dict) -> str:
        if model.get("admin"):
            return "operator"
        return "reviewer" if self.reviewer_group in (model.get("groups") or []) else "user"
