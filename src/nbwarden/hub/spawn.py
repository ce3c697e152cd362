"""The JupyterHub ``pre_spawn_hook``: ask the policy service before a server starts, and
refuse a suspended user with a message that names the reason and where to appeal.

    # jupyterhub_config.py
    from nbwarden.hub import make_pre_spawn_hook
    c.Spawner.pre_spawn_hook = make_pre_spawn_hook(
        service_url="http://127.0.0.1:8765",          # or the hub service URL
        token=os.environ["NBWARDEN_HUB_TOKEN"],         # scope standing:read
    )

The hub's token needs only the ``standing:read`` scope of the policy service. When the
service cannot be reached the hook lets the spawn go ahead (``fail_open=True``, logged): a
policy service outage should not lock everyone out; set ``fail_open=False`` to refuse.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import httpx

log = logging.getLogger("nbwarden.hub")


class SpawnRefused(Exception):
    """Raised from the hook; JupyterHub shows ``jupyterhub_message`` to the user."""

    def __init__(self, message: str, standing: dict[str, Any] | None = None):
        super().__init__(message)
        self.jupyterhub_message = message
        self.standing = standing or {}


def refusal_message(standing: dict[str, Any]) -> str:
    reason = standing.get("reason") or f"{standing.get('strikes', 0)} strikes under the usage policy"
    return (f"Your account is suspended, so no server can be started. Reason: {reason}. "
            f"{standing.get('consequence', '')} Appeal or see the evidence at {standing.get('appeal_url', '')} "
            f"(policy: {standing.get('policy_url', '')}).").replace("  ", " ")


def make_pre_spawn_hook(service_url: str, token: str, *, fail_open: bool = True,
                        timeout: float = 5.0) -> Callable[[Any], Awaitable[None]]:
    """A coroutine for ``c.Spawner.pre_spawn_hook``."""
    base = service_url.rstrip("/")

    async def pre_spawn_hook(spawner) -> None:
        name = spawner.user.name
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                r = await client.get(f"{base}/api/users/{quote(name, safe='')}/standing",
                                     headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            standing = r.json()
        except (httpx.HTTPError, ValueError) as e:
            if fail_open:
                log.warning("nbwarden: policy service unreachable (%s); letting %s spawn", e, name)
                return
            raise SpawnRefused("The usage-policy service cannot be reached, so servers cannot start right now. "
                               "Please try again in a few minutes.") from None
        if standing.get("suspended"):
            raise SpawnRefused(refusal_message(standing), standing)

    return pre_spawn_hook
