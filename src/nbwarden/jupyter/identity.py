"""Who is running code, as recorded with events and counted by the ladder.

In JupyterHub the single-user server runs for one user and is told who in its environment
(JUPYTERHUB_USER): the hub authenticated them, so that name wins. A stand-alone server with
an identity provider that knows real users gives their name. A server opened with its
shared token only knows "Anonymous <moon>", a random name per browser or request; strikes
would scatter across those, so the operating-system user running the server is used.
"""
from __future__ import annotations

import getpass
import os
from functools import lru_cache


def user_name(handler) -> str | None:
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        user = handler.current_user
    except Exception:
        user = None
    name = getattr(user, "username", None) or (user if isinstance(user, str) else None)
    if name and not _anonymous(user):
        return name
    return _os_user()


def _anonymous(user) -> bool:
    """jupyter_server's generated user: a random id, named "Anonymous <moon>"."""
    name = getattr(user, "name", "") or ""
    return name.startswith("Anonymous ") and getattr(user, "display_name", name) == name


@lru_cache(maxsize=1)
def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None
