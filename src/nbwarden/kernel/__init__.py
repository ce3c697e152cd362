"""nbwarden inside an IPython kernel: ``%load_ext nbwarden.kernel``.

Two things, both advisory (the kernel runs as the user, who can unload or bypass them; the
server-side check and the runtime watcher are the layers that hold):

* an AST transformer that refuses, with ``InputRejected``, cells the policy blocks or
  terminates (a second line behind the server for clients that reach the kernel without
  the server's check);
* PEP 578 audit hooks that see decoded source handed to ``compile``/``exec``, processes
  started (``subprocess.Popen``, ``os.system``, ``os.posix_spawn``, ``os.exec``) and
  sockets connecting to mining-pool ports, and record what the engine flags as events.

Configuration comes from the environment the server passes to kernels:
NBWARDEN_POLICY (policy file), NBWARDEN_TIER (tier), NBWARDEN_DATA_DIR or NBWARDEN_STORE
(event store). Auto-load it with ``c.InteractiveShellApp.extensions = ["nbwarden.kernel"]``
or a kernelspec whose argv ends with ``--ext=nbwarden.kernel`` (``nbwarden lab`` does this).
"""
from __future__ import annotations

from .settings import KernelSettings, configure

_state: dict = {}


def load_ipython_extension(ip) -> None:
    from .audit import install_audit_hooks
    from .transformer import PolicyTransformer

    from .audit import quiet

    settings = _state.setdefault("settings", KernelSettings.from_env())
    with quiet():  # load now, not inside the first audit event
        settings.engine, settings.policy, settings.reporter
    if not any(isinstance(t, PolicyTransformer) for t in ip.ast_transformers):
        ip.ast_transformers.append(PolicyTransformer(settings))
    # once per process (audit hooks cannot be removed)
    install_audit_hooks(settings, getattr(getattr(ip, "compile", None), "_filename_map", None))


def unload_ipython_extension(ip) -> None:
    from .audit import pause_audit_hooks
    from .transformer import PolicyTransformer

    ip.ast_transformers[:] = [t for t in ip.ast_transformers if not isinstance(t, PolicyTransformer)]
    pause_audit_hooks()


__all__ = ["KernelSettings", "configure", "load_ipython_extension", "unload_ipython_extension"]
