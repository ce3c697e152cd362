"""Who a process belongs to and what started it.

* ``role_of``: is this process a Jupyter kernel, a Jupyter server, a terminal, a platform
  process, or the watcher itself? Those are never signalled; only what they started is.
* ``owner_of``: the user, server, pod and container a process belongs to. JupyterHub puts
  JUPYTERHUB_USER and JUPYTERHUB_SERVER_NAME in every single-user server's environment and
  children inherit it; in node mode the cgroup path names the container and the pod.
* ``lineage``: the chain of parents up to the kernel or terminal that started a process.

Whether a *package* started it (dependency compromise) is in ``dependency``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .process import Proc, user_name

_KERNEL_FILE = re.compile(r"kernel-([0-9a-fA-F-]{8,})\.json$")
_SERVER_PROGRAMS = {"jupyter-server", "jupyter-lab", "jupyter-notebook", "jupyterhub-singleuser", "jupyterhub",
                    "jupyter-labhub", "configurable-http-proxy", "jupyter-nbclassic"}
_SERVER_SUBCOMMANDS = {"server", "lab", "notebook", "labhub", "nbclassic"}
_SERVER_MODULES = {"jupyter_server", "jupyterlab", "notebook", "jupyterhub", "jupyterhub.singleuser", "nbclassic"}
_KERNEL_MODULES = {"ipykernel", "ipykernel_launcher", "ipykernel.kernelapp"}
_SHELLS = {"bash", "sh", "dash", "zsh", "fish", "ksh", "tcsh", "csh"}
#: Processes that make the machine or the container run. Never signalled, whoever owns them.
PLATFORM_PROGRAMS = {"systemd", "init", "tini", "dumb-init", "catatonit", "pause", "containerd", "containerd-shim",
                     "containerd-shim-runc-v2", "conmon", "runc", "crun", "dockerd", "docker-proxy", "kubelet",
                     "kube-proxy", "sshd", "agetty", "login", "cron", "dbus-daemon", "systemd-journald",
                     "systemd-logind", "systemd-udevd", "sudo", "su", "supervisord", "s6-svscan", "runsv"}
_CONTAINER_ID = re.compile(r"(?:docker-|cri-containerd-|crio-|libpod-|containerd://|docker/|/)([0-9a-f]{64})")
_POD_UID = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")


def _base(path: str) -> str:
    return os.path.basename(path.rstrip("/")) if path else ""


def _python_module(argv: list[str]) -> str | None:
    """The module of ``python -m MODULE``, if that is how the process runs."""
    for i, a in enumerate(argv[1:], 1):
        if a == "-m" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("-m") and len(a) > 2:
            return a[2:]
        if not a.startswith("-"):
            return None
    return None


def kernel_id(argv: list[str] | None) -> str | None:
    for a in argv or ():
        m = _KERNEL_FILE.search(a)
        if m:
            return m.group(1)
    return None


def role_of(p: Proc, parent: Proc | None = None) -> str:
    """kernel | server | terminal | platform | "" (an ordinary process).

    Roles come from names and command lines, which a process chooses: a miner calling itself
    ``jupyter-lab`` gets the server role. That only spares it from signals (it is still
    reported); the watcher itself is recognised by pid, never by name."""
    argv = p.argv or []
    names = {p.comm, _base(argv[0]) if argv else "", _base((p.exe or "").removesuffix(" (deleted)"))}
    module = _python_module(argv) if argv else None
    if module in _KERNEL_MODULES or kernel_id(argv) or any(_base(a) in ("ipykernel_launcher.py",) for a in argv[:3]):
        return "kernel"
    if module in _SERVER_MODULES or names & _SERVER_PROGRAMS or any(_base(a) in _SERVER_PROGRAMS for a in argv[:2]):
        return "server"
    if len(argv) > 1 and _base(argv[0]) == "jupyter" and argv[1] in _SERVER_SUBCOMMANDS:
        return "server"
    if len(argv) > 2 and _base(argv[1]) == "jupyter" and argv[2] in _SERVER_SUBCOMMANDS:
        return "server"
    if names & PLATFORM_PROGRAMS:
        return "platform"
    if parent is not None and parent.role == "server" and (p.comm in _SHELLS or p.tty):
        return "terminal"  # a Jupyter terminal: a shell the server started on a pty
    if parent is not None and parent.role == "platform" and p.tty:
        return "terminal"  # a login shell (sshd, login)
    return ""


@dataclass(slots=True)
class Owner:
    user: str | None = None
    server: str | None = None
    pod: str | None = None
    container: str | None = None
    uid: int | None = None
    source: str = ""  # how the user was found: env:JUPYTERHUB_USER, uid, inherited...

    def to_dict(self) -> dict:
        return {"user": self.user, "server": self.server, "pod": self.pod, "container": self.container,
                "uid": self.uid, "source": self.source}


def parse_cgroup(text: str | None) -> tuple[str | None, str | None]:
    """(container id, pod uid) from /proc/PID/cgroup, for Docker, containerd, CRI-O and
    Kubernetes (both cgroup v1 and v2 layouts, systemd and cgroupfs drivers)."""
    if not text:
        return None, None
    cid = pod = None
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        m = _CONTAINER_ID.search(path)
        if m:
            cid = m.group(1)
        m = _POD_UID.search(path)
        if m:
            pod = m.group(1).replace("_", "-")
    return cid, pod


def pod_names(log_dir: str = "/var/log/pods") -> dict[str, str]:
    """Pod uid -> "namespace/name" from the kubelet's log folders (namespace_name_uid), a
    node-local index that needs no API access."""
    out = {}
    try:
        for entry in os.listdir(log_dir):
            parts = entry.rsplit("_", 2)
            if len(parts) == 3:
                out[parts[2]] = f"{parts[0]}/{parts[1]}"
    except OSError:
        pass
    return out


def owner_of(p: Proc, parent_owner: Owner | None, pods: dict[str, str] | None = None) -> Owner:
    """A process's user and server: its own JupyterHub variables, else its parent's (a child
    that cleared its environment stays the user's), else its container, else its uid."""
    cid, pod_uid = parse_cgroup(p.cgroup)
    pod = (pods or {}).get(pod_uid or "") or (p.env.get("HOSTNAME") if pod_uid else None) or pod_uid
    if p.env.get("JUPYTERHUB_USER"):
        return Owner(p.env["JUPYTERHUB_USER"], p.env.get("JUPYTERHUB_SERVER_NAME") or "", pod, cid, p.uid,
                     "env:JUPYTERHUB_USER")
    if parent_owner is not None and parent_owner.source.startswith(("env:", "inherited")) and \
            (cid is None or cid == parent_owner.container):
        return Owner(parent_owner.user, parent_owner.server, parent_owner.pod or pod, parent_owner.container or cid,
                     p.uid, "inherited from parent")
    if cid or pod_uid:
        return Owner(None, None, pod, cid, p.uid, "container")
    return Owner(user_name(p.uid), None, None, None, p.uid, "uid")


def lineage(p: Proc, procs: dict[int, Proc], limit: int = 64) -> list[Proc]:
    """The process, its parent, ... up to and including the first kernel, terminal, server or
    platform process (what "started" it), or the top of the tree."""
    chain = [p]
    cur = p
    for _ in range(limit):
        parent = procs.get(cur.ppid)
        if parent is None or parent.pid == cur.pid:
            break
        chain.append(parent)
        if parent.role in ("kernel", "terminal", "server", "platform", "watcher"):
            break
        cur = parent
    return chain


def started_by(chain: list[Proc]) -> dict:
    """What started the chain's first process, for the report: kind, pid and command."""
    top = chain[-1]
    kind = top.role or "process"
    out = {"kind": kind, "pid": top.pid, "command": top.command[:300]}
    if top.role == "kernel":
        out["kernel_id"] = kernel_id(top.argv)
    out["chain"] = [{"pid": c.pid, "comm": c.comm, "role": c.role or None} for c in chain]
    return out
