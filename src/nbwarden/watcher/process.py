"""What the watcher remembers about one process, keyed by (pid, start time) so that a
reused pid is never mistaken for the process it replaced."""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from . import procfs

#: Environment variables kept per process (the rest of /proc/PID/environ is dropped):
#: JupyterHub's names for user and server, and what locates a Python environment.
ENV_KEYS = ("JUPYTERHUB_USER", "JUPYTERHUB_SERVER_NAME", "JUPYTERHUB_CLIENT_ID", "HOSTNAME", "HOME",
            "PYTHONPATH", "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX")


@dataclass(slots=True, frozen=True)
class ProcRef:
    """One process for good: a pid names another process once this one has exited."""

    pid: int
    starttime: int


@dataclass(slots=True)
class Proc:
    pid: int
    starttime: int
    ppid: int
    comm: str
    uid: int | None
    tty: int = 0
    kernel_thread: bool = False
    in_scope: bool = False  # inside the --root-pid trees (everything when no roots are given)
    watched: bool = False  # in scope and one of the watched users' processes: may be signalled
    argv: list[str] | None = None  # None: not read (unwatched) or not readable
    exe: str | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_readable: bool = False
    cgroup: str | None = None
    netns: str | None = None
    role: str = ""  # kernel | server | terminal | platform | "" (see attribution.role_of)
    owner: object = None  # attribution.Owner
    first_seen: float = 0.0  # time.monotonic() when first listed
    age_at_first_read: float = 0.0  # seconds the process had been running when first read
    samples: deque = field(default_factory=lambda: deque(maxlen=64))  # (monotonic, cpu ticks)
    suspect: bool = False  # has a signal of its own: sampled and re-evaluated every tick
    reread_pending: bool = False  # young when first read: argv read again next tick (exec race)
    static: dict = field(default_factory=dict)  # signals computed once: engine findings, exe anomalies
    latest: list = field(default_factory=list)  # findings of the last evaluation, flagged or not
    reported: tuple | None = None  # (action, category) of the last report: report changes only
    dependency: object = None  # attribution.dependency result, computed once when flagged
    dependency_done: bool = False

    @property
    def ref(self) -> ProcRef:
        return ProcRef(self.pid, self.starttime)

    @property
    def command(self) -> str:
        if self.argv:
            return " ".join(self.argv)
        return f"[{self.comm}]"

    def cpu_percent(self, window: float) -> tuple[float, float]:
        """(% of one core, seconds covered) over the last ``window`` seconds of samples."""
        if len(self.samples) < 2:
            return 0.0, 0.0
        t1, c1 = self.samples[-1]
        t0, c0 = self.samples[0]
        for t, c in reversed(self.samples):  # the newest sample at least `window` old
            if t1 - t >= window:
                t0, c0 = t, c
                break
        span = t1 - t0
        if span <= 0:
            return 0.0, 0.0
        return 100.0 * (c1 - c0) / procfs.CLK_TCK / span, span


def home_of(uid: int | None) -> str | None:
    import pwd
    try:
        return pwd.getpwuid(uid).pw_dir if uid is not None else None
    except KeyError:
        return None


def user_name(uid: int | None) -> str | None:
    import pwd
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


MY_PID = os.getpid()
