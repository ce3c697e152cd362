"""nbwarden's Jupyter server extension: every cell is checked against the usage policy
before the kernel sees it, refused cells get a readable error, warnings can be overridden
once with a signed token, and every decision is recorded.

Enabled at install by ``jupyter-config/jupyter_server_config.d/nbwarden.json``; configured
with ``c.NbwardenConfig.*`` (see ``config.py``).
"""
from __future__ import annotations

import secrets

from .config import NbwardenConfig


def _jupyter_server_extension_points():
    return [{"module": "nbwarden.jupyter"}]


def _link_jupyter_server_extension(serverapp) -> None:
    """Before the web app is built: make every kernel websocket a checked one."""
    from .connection import GuardedKernelConnection
    serverapp.kernel_websocket_connection_class = GuardedKernelConnection


def _load_jupyter_server_extension(serverapp) -> None:
    from ..engine import Engine
    from ..policy import Policy
    from ..reporting import Reporter
    from . import handlers, terminals
    from .connection import BROKEN_KEY, SETTINGS_KEY, GuardedKernelConnection
    from .guard import Guard
    from .tokens import OverrideTokens

    cfg = NbwardenConfig(parent=serverapp)
    settings = serverapp.web_app.settings
    # linked before the web app was built, so this is normally already ours; a server that
    # loads extensions without linking them gets it here
    settings["kernel_websocket_connection_class"] = GuardedKernelConnection
    try:
        policy = Policy.load(cfg.policy_path or None)
        reporter = Reporter.from_config(store_path=cfg.store_path or None, service_url=cfg.service_url or None,
                                        token=cfg.service_token or None)
        guard = Guard(engine=Engine.default(), policy=policy, reporter=reporter,
                      tokens=OverrideTokens(cfg.secret or secrets.token_bytes(32), ttl=cfg.override_ttl),
                      tier=cfg.tier, tier_for=cfg.tier_for, server=cfg.server_name,
                      on_engine_error=cfg.on_engine_error, max_cell_bytes=cfg.max_cell_bytes,
                      inline_check_bytes=cfg.inline_check_bytes, kernel_contexts=cfg.kernel_contexts,
                      refuse_through_kernel=cfg.refuse_through_kernel)
    except Exception as e:  # a broken policy or rule pack: say so, and fail as configured
        settings[BROKEN_KEY] = (f"nbwarden could not start ({e}), so cells cannot be checked"
                                + ("; they run unchecked." if cfg.on_engine_error == "open" else
                                   "; this server refuses them until an operator fixes it."),
                                cfg.on_engine_error == "open")
        serverapp.log.error("nbwarden: %s", settings[BROKEN_KEY][0])
        return
    settings[SETTINGS_KEY] = guard
    settings["nbwarden_terminals_disabled_for"] = tuple(cfg.disable_terminals_for_tiers)
    settings["nbwarden_check_terminal_commands"] = cfg.check_terminal_commands
    serverapp.web_app.add_handlers(".*$", handlers.handlers(settings["base_url"]))
    swapped = terminals.install(serverapp.web_app)
    if "jupyter_server_nbmodel" in serverapp.extension_manager.extensions:
        serverapp.log.warning("nbwarden: jupyter-server-nbmodel is enabled; its POST /api/kernels/<id>/execute "
                              "sends code to kernels without passing the websocket, so nbwarden does not check "
                              "it (see docs/jupyter.md); disable it where the check must hold")
    serverapp.log.info("nbwarden: checking cells against %s (tier %s, engine errors fail %s%s)",
                       policy.source, guard.tier_of(None), cfg.on_engine_error,
                       ", terminal lines checked" if swapped else "")


__all__ = ["NbwardenConfig", "_jupyter_server_extension_points", "_load_jupyter_server_extension"]
