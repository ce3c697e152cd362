"""The one place an operator configures the server extension (``c.NbwardenConfig.*`` in
``jupyter_server_config.py``). Every setting says its unit and gives an example."""
from __future__ import annotations

from traitlets import Bool, Callable, Enum, Float, Int, List, Unicode
from traitlets.config import Configurable


class NbwardenConfig(Configurable):
    """nbwarden's pre-execution check in the Jupyter server."""

    policy_path = Unicode(
        "", config=True,
        help="""Path of the policy file (YAML) that decides what happens to flagged code.
        Empty: the policy shipped with nbwarden. Example: "/etc/nbwarden/policy.yaml".""")

    tier = Unicode(
        "", config=True,
        help="""Tier this server's user is on, one of the policy's tiers; empty means the
        policy's default tier. Ignored when tier_for is set. Example: "free".""")

    tier_for = Callable(
        None, allow_none=True, config=True,
        help="""A callable deciding the tier per user, called as
        tier_for(*, user, server, **kwargs) -> str (keyword-only; accept **kwargs so new
        arguments do not break it). Takes precedence over tier.
        Example: lambda *, user, **kw: "pro" if user.endswith("@lab.example.org") else "free".""")

    secret = Unicode(
        "", config=True,
        help="""Secret (text, at least 32 characters) under which "Run anyway" override tokens
        are signed with HMAC-SHA256. Empty: 32 random bytes generated when the server starts
        (tokens then die with the server, which is usually what you want). Set it only when
        several server processes must accept each other's tokens.
        Example: "3f9c...64 hex characters...".""")

    override_ttl = Float(
        120.0, config=True,
        help="""Seconds an override token stays valid after /nbwarden/api/check issued it.
        Each token works once. Example: 120.""")

    service_url = Unicode(
        "", config=True,
        help="""Base URL of the nbwarden policy service that receives events; empty keeps
        events in the local store only. Example: "https://nbwarden.example.org".""")

    service_token = Unicode(
        "", config=True,
        help="""Bearer token for the policy service (keep it out of the user's reach).
        Example: "nbw_9f2c...".""")

    store_path = Unicode(
        "", config=True,
        help="""Path of the local SQLite event store; empty means
        $NBWARDEN_DATA_DIR/events.sqlite or ~/.local/share/nbwarden/events.sqlite.
        Example: "/srv/nbwarden/events.sqlite".""")

    on_engine_error = Enum(
        ["open", "closed"], "open", config=True,
        help="""What happens to a cell when the engine cannot check it (it reports an
        error or raises): "open" runs it and records the error, "closed" refuses it with
        a message saying the check failed. Use "closed" where this server is the
        authoritative layer. Example: "closed".""")

    inline_check_bytes = Int(
        65536, config=True,
        help="""Cells up to this size (bytes of code) are checked on the event loop
        (typically 30-300 microseconds); larger ones in a worker thread so one huge cell
        never stalls the server. Messages behind a large cell wait for it (order is kept).
        Example: 65536.""")

    refuse_through_kernel = Bool(
        True, config=True,
        help="""How a refused cell's error reaches the notebook on a Python (IPython) kernel:
        true sends the kernel, in the refused request's place, one line that only raises
        PolicyViolation with nbwarden's message (the refused code never reaches it), so the
        error comes in the kernel's order, after the cells before it, and the kernel aborts
        the cells queued behind it as it does after any error ("Run All" stops there);
        false answers at once from the server, as it does for other kernels and for
        terminate, and the cells queued behind still run. Example: true.""")

    max_cell_bytes = Int(
        64 << 20, config=True,
        help="""Cells larger than this (bytes) are not analysed; on_engine_error decides
        whether they run. Example: 67108864 (64 MiB).""")

    disable_terminals_for_tiers = List(
        Unicode(), [], config=True,
        help="""Tiers whose users cannot use terminals: the terminal websocket says why and
        closes. Example: ["free"].""")

    check_terminal_commands = Bool(
        True, config=True,
        help="""Check each command line typed into a terminal (when Enter is pressed)
        with the engine's command check; a refused line is erased instead of run. Best
        effort: the server sees keystrokes, not the shell's line editor. Example: true.""")

    kernel_contexts = Int(
        256, config=True,
        help="""How many kernels' notebook context (what earlier cells did) to keep in
        memory; the least recently used is forgotten beyond that. Example: 256.""")

    server_name = Unicode(
        "", config=True,
        help="""Name recorded with events for this server; empty means
        $JUPYTERHUB_SERVER_NAME, else the host name. Example: "gpu-pod-17".""")
