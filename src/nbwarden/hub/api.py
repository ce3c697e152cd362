"""The Hub API calls the policy service makes: stop every server of a suspended user. That
needs the service role scopes ``delete:servers`` (stop) and ``read:servers`` (find a user's
named servers); with ``delete:servers`` alone only the default server is stopped.
(JupyterHub >= 4; ``servers`` on older hubs.)"""
from __future__ import annotations

from urllib.parse import quote

import httpx

FINAL = (202, 204, 400, 404)  # stopping, stopped, not running, no such user/server


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api_url, self.token, self.timeout = api_url.rstrip("/"), token, timeout

    def _call(self, method: str, path: str) -> httpx.Response:
        return httpx.request(method, f"{self.api_url}{path}", timeout=self.timeout,
                             headers={"Authorization": f"token {self.token}"})

    def server_names(self, user: str) -> list[str]:
        """The user's running servers ("" is the default one). Without ``read:servers`` the
        Hub leaves the servers out of the user model; then only the default is known."""
        r = self._call("GET", f"/users/{quote(user, safe='')}")
        if r.status_code == 200 and isinstance(r.json().get("servers"), dict):
            return sorted(r.json()["servers"]) or [""]
        if r.status_code in (200, 403):
            return [""]
        if r.status_code == 404:
            return []
        raise RuntimeError(f"hub answered {r.status_code} listing {user}'s servers: {r.text[:200]}")

    def stop_servers(self, user: str) -> dict[str, int]:
        """DELETE each of the user's servers; {server name: status}. 202/204 = stopping or
        stopped, 400 = not running, 404 = no such user or server: all final. Anything else
        raises so the background runner retries (stopping twice is harmless)."""
        done: dict[str, int] = {}
        for name in self.server_names(user):
            path = f"/users/{quote(user, safe='')}/server" + (f"s/{quote(name, safe='')}" if name else "")
            r = self._call("DELETE", path)
            if r.status_code not in FINAL:
                raise RuntimeError(f"hub answered {r.status_code} stopping {user}'s server {name!r}: {r.text[:200]}")
            done[name] = r.status_code
        return done
