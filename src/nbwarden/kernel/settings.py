"""What the kernel extension needs to decide and record: engine, policy, tier, reporter,
and who this is. Read from the environment once; ``configure`` changes it at run time
(for tests and for operators' startup files)."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import cached_property


@dataclass
class KernelSettings:
    policy_path: str | None = None
    tier: str | None = None
    store_path: str | None = None
    user: str | None = None
    server: str | None = None
    kernel: str | None = field(default=None)
    #: the notebook this kernel runs for, as Jupyter's session manager told the kernel
    #: (JPY_SESSION_NAME: the notebook's path, absolute or from the server's root); rules
    #: weigh where code lives, as they do for the server's check and for a scan
    location: str | None = None

    @classmethod
    def from_env(cls) -> "KernelSettings":
        env = os.environ
        user = env.get("JUPYTERHUB_USER")
        if not user:
            try:
                import getpass
                user = getpass.getuser()
            except Exception:
                user = None
        return cls(policy_path=env.get("NBWARDEN_POLICY") or None, tier=env.get("NBWARDEN_TIER") or None,
                   store_path=env.get("NBWARDEN_STORE") or None, user=user,
                   server=env.get("JUPYTERHUB_SERVER_NAME") or socket.gethostname(), kernel=_kernel_id(),
                   location=env.get("JPY_SESSION_NAME") or None)

    @cached_property
    def engine(self):
        from ..engine import Engine
        return Engine.default()

    @cached_property
    def policy(self):
        from ..policy import Policy
        return Policy.load(self.policy_path)

    @cached_property
    def reporter(self):
        from ..reporting import Reporter
        return Reporter.from_config(store_path=self.store_path)

    def reset(self) -> None:
        for name in ("engine", "policy", "reporter"):
            self.__dict__.pop(name, None)


def configure(**changes) -> KernelSettings:
    """Change the loaded extension's settings, e.g. ``configure(tier="pro")``."""
    from . import _state
    settings = _state.setdefault("settings", KernelSettings.from_env())
    for key, value in changes.items():
        if not hasattr(settings, key) or key in ("engine", "policy", "reporter"):
            raise TypeError(f"unknown setting {key!r}")
        setattr(settings, key, value)
    settings.reset()
    return settings


def _kernel_id() -> str | None:
    """The kernel id, from the connection file name ipykernel was started with."""
    try:
        from ipykernel.kernelapp import IPKernelApp
        if IPKernelApp.initialized():
            name = os.path.basename(IPKernelApp.instance().connection_file)
            return name.removeprefix("kernel-").removesuffix(".json") or None
    except Exception:
        pass
    return None
