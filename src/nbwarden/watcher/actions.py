"""Acting on a verdict: stop (SIGSTOP, pending review) or terminate (SIGTERM, then SIGKILL
after a grace period) the offending process and its descendants, and nothing else.

Safety rules, each checked right before every signal:
* the target is still the process that was judged: its start time (/proc/PID/stat field
  22) must match, and the signal goes through a pidfd opened *before* that check, so a pid
  reused in between can never be hit;
* never pid 1, a kernel thread, the watcher or any of its ancestors, a Jupyter server or
  kernel, a platform process (container runtime, init, sshd) owned by root, or any process
  outside the watched users' processes (``Protection.reason``).
Every step is written down in ``ActionResult.did``: the report says what was done.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

from . import procfs
from .process import Proc, ProcRef


@dataclass(slots=True)
class ActionResult:
    outcome: str  # terminated | stopped | reported
    did: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "did": self.did}


class Protection:
    """Which processes may never be signalled, and why."""

    def __init__(self, procs: dict[int, Proc]):
        self.procs = procs
        self.ancestors = self._my_ancestors()

    @staticmethod
    def _my_ancestors() -> set[int]:
        out, pid = {os.getpid()}, os.getpid()
        for _ in range(128):
            st = procfs.read_stat(pid)
            if st is None or st.ppid <= 0:
                break
            out.add(st.ppid)
            pid = st.ppid
        return out

    def reason(self, p: Proc) -> str | None:
        if p.pid <= 1:
            return "init (pid 1)"
        if p.kernel_thread:
            return "a kernel thread"
        if p.pid in self.ancestors:
            return "the watcher or one of its parents"
        if p.role in ("kernel", "server"):
            return f"the Jupyter {p.role} itself (only what it started may be signalled)"
        if p.role == "platform" and (p.uid == 0 or not p.watched):
            return "a platform process"
        if not p.watched:
            return "outside the watched users' processes"
        return None


def descendants(root: Proc, procs: dict[int, Proc]) -> list[Proc]:
    """The root and everything below it, parents before children, from fresh /proc reads
    (children started since the last tick are included)."""
    children: dict[int, list[int]] = {}
    for pid in procfs.list_pids():
        st = procfs.read_stat(pid)
        if st is not None:
            children.setdefault(st.ppid, []).append(pid)
    out, todo, seen = [root], [root.pid], {root.pid}
    while todo:
        for c in children.get(todo.pop(), ()):
            if c in seen:
                continue
            seen.add(c)
            known = procs.get(c)
            st = procfs.read_stat(c)
            if st is None:
                continue
            if known is None or known.starttime != st.starttime:
                # a child the agent has not listed yet: it inherits the watched state of its parent
                known = Proc(c, st.starttime, st.ppid, st.comm, procfs.uid_of(c), st.tty, st.kernel_thread,
                             in_scope=root.in_scope, watched=root.watched)
            out.append(known)
            todo.append(c)
    return out


def send(ref: ProcRef, sig: int) -> str:
    """Signal one process if it is still the one judged. Returns "sent", "gone" or "reused"."""
    try:
        fd = os.pidfd_open(ref.pid)
    except (ProcessLookupError, OSError):
        return "gone"
    try:
        st = procfs.read_stat(ref.pid)
        if st is None or not st.alive:
            return "gone"
        if st.starttime != ref.starttime:
            return "reused"
        signal.pidfd_send_signal(fd, sig)
        return "sent"
    except ProcessLookupError:
        return "gone"
    finally:
        os.close(fd)


def _alive(ref: ProcRef) -> bool:
    st = procfs.read_stat(ref.pid)
    return st is not None and st.alive and st.starttime == ref.starttime


class Actuator:
    def __init__(self, protection: Protection, grace: float = 3.0):
        self.protection = protection
        self.grace = grace

    def _targets(self, root: Proc, procs: dict[int, Proc], did: list[str]) -> list[Proc]:
        why = self.protection.reason(root)
        if why:
            did.append(f"did not signal pid {root.pid} ({root.comm}): {why}")
            return []
        out = []
        for p in descendants(root, procs):
            why = self.protection.reason(p)
            if why:
                did.append(f"left pid {p.pid} ({p.comm}) alone: {why}")
            else:
                out.append(p)
        return out

    def stop(self, root: Proc, procs: dict[int, Proc]) -> ActionResult:
        """SIGSTOP the tree: nothing runs, nothing is lost, a reviewer decides (SIGCONT or kill)."""
        did: list[str] = []
        targets = self._targets(root, procs, did)
        stopped = [p for p in targets if self._note(did, "SIGSTOP", p, send(p.ref, signal.SIGSTOP))]
        return ActionResult("stopped" if stopped else "reported", did)

    def terminate(self, root: Proc, procs: dict[int, Proc]) -> ActionResult:
        """Freeze the tree (so it cannot fork away), SIGTERM and continue it, wait up to the
        grace period, then SIGKILL what is left."""
        did: list[str] = []
        targets = self._targets(root, procs, did)
        if not targets:
            return ActionResult("reported", did)
        frozen = [p for p in targets if send(p.ref, signal.SIGSTOP) == "sent"]
        # children forked between listing and freezing: list again once the tree is frozen
        seen = {p.pid for p in targets}
        for p in self._targets(root, procs, []):
            if p.pid not in seen and send(p.ref, signal.SIGSTOP) == "sent":
                frozen.append(p)
                targets.append(p)
        termed = [p for p in targets if self._note(did, "SIGTERM", p, send(p.ref, signal.SIGTERM))]
        for p in frozen:
            send(p.ref, signal.SIGCONT)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(_alive(p.ref) for p in termed):
            time.sleep(0.05)
        for p in termed:
            if _alive(p.ref):
                self._note(did, f"SIGKILL after {self.grace:g} s grace", p, send(p.ref, signal.SIGKILL))
        return ActionResult("terminated" if termed else "reported", did)

    @staticmethod
    def _note(did: list[str], what: str, p: Proc, result: str) -> bool:
        if result == "sent":
            did.append(f"{what} pid {p.pid} ({p.comm})")
            return True
        did.append(f"{what} pid {p.pid} ({p.comm}) not sent: "
                   + ("it had exited" if result == "gone" else "its pid now belongs to another process"))
        return False
