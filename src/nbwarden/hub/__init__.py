"""JupyterHub integration: the ``pre_spawn_hook`` that asks the policy service before a
server starts (``spawn.py``), the Hub API calls the service makes (``api.py``) and the hub
service login (``oauth.py``). See docs/service.md for the scopes each needs."""
from .spawn import SpawnRefused, make_pre_spawn_hook

__all__ = ["SpawnRefused", "make_pre_spawn_hook"]
