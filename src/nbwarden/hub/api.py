"""The Hub API calls the policy service makes. Only one: stop a suspended user's server,
which needs the service role scope ``delete:servers`` (JupyterHub >= 4; ``servers`` on
older hubs)."""
from __future__ import annotations

from urllib.parse import quote

import httpx


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api_url, self.token, self.timeout = api_url.rstrip("/"), token, timeout

    def stop_server(self, user: str) -> int:
        """DELETE /users/{name}/server. 202/204 = stopping or stopped, 400 = not running (the
        Hub's answer for "no server"), 404 = no such user: all final. Anything else raises
        so the background runner retries."""
        r = httpx.delete(f"{self.api_url}/users/{quote(user, safe='')}/server", timeout=self.timeout,
                         headers={"Authorization": f"token {self.token}"})
        if r.status_code in (202, 204, 400, 404):
            return r.status_code
        raise RuntimeError(f"hub answered {r.status_code} stopping {user}'s server: {r.text[:200]}")
