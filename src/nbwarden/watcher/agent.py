"""The watcher's loop: list /proc, learn new processes once, follow the suspicious ones,
decide by the policy, act, report.

Cost model (see bench/bench_watcher.py): every tick lists /proc's pid folders and reads the
TCP tables of each network namespace; a *new* process is read once (stat, argv, exe, cwd,
environment, cgroup) and its command line checked by the engine (cached by command line);
a rolling slice of known processes is re-checked for exec() each tick so the whole table
is re-verified every ``recheck_ticks`` ticks; only *suspects* (a process with a signal of
its own, or the owner of a pool-port connection) are sampled every tick for CPU, sockets
and GPU.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..engine import Engine
from ..engine.model import Finding
from ..events import Event
from ..policy import Policy
from ..policy.model import CATEGORY_NAMES, Decision
from . import attribution, dependency, procfs, signals
from .actions import ActionResult, Actuator, Protection
from .gpu import Gpu
from .net import POOL_PORTS, REMOTE_ACCESS_PORTS, Conn, read_diag, read_tables
from .process import ENV_KEYS, Proc

log = logging.getLogger("nbwarden.watcher")
_NO_CONNS: dict[int, Conn] = {}


@dataclass
class WatchConfig:
    interval: float = 1.0  # seconds between ticks
    node: bool = False  # node agent: every process, attributed through environment and cgroups
    roots: tuple[int, ...] = ()  # watch only these processes and their descendants (empty: all in scope)
    uid: int | None = None  # user mode: the uid watched (default: our own)
    enforce: bool = False  # act (stop/terminate) as the policy says; otherwise report only
    tier: str | None = None
    cpu_window: float = 10.0  # seconds of samples behind "sustained CPU"
    cpu_busy: float = 80.0  # % of one core that counts as busy over the window
    gpu_busy: int = 50  # % of a GPU's compute that counts as busy
    long_lived: float = 60.0  # seconds an outbound connection must be held to count as long-lived
    grace: float = 3.0  # seconds between SIGTERM and SIGKILL
    recheck_ticks: int = 30  # every known process is re-checked for exec() once per this many ticks
    young: float = 1.0  # a process younger than this when first read is read again next tick
    net_interval: float = 10.0  # seconds between dumps of the TCP table (sooner for a new suspect)


@dataclass
class Verdict:
    """One decision about one process: what was seen, what the policy says, what was done."""

    proc: Proc
    findings: list[Finding]
    decision: Decision
    started_by: dict
    dependency: dependency.Dependency | None
    dependency_note: str
    result: ActionResult
    enforced: bool
    connections: list[str] = field(default_factory=list)
    cpu: float = 0.0
    gpu: str | None = None

    @property
    def flagged(self) -> bool:
        return self.decision.category is not None

    @property
    def attribution(self) -> str:
        return self.dependency.attribution if self.dependency else "user"

    def to_dict(self) -> dict:
        p, o = self.proc, self.proc.owner
        return {"pid": p.pid, "starttime": p.starttime, "comm": p.comm, "exe": p.exe, "cmdline": p.argv,
                "cwd": p.cwd, "uid": p.uid, "owner": o.to_dict() if o else None, "flagged": self.flagged,
                "action": self.decision.action, "category": self.decision.category,
                "confidence": round(self.decision.confidence, 3), "tier": self.decision.tier,
                "outcome": self.result.outcome, "enforced": self.enforced, "did": self.result.did,
                "attribution": self.attribution,
                "dependency": self.dependency.to_dict() if self.dependency else None,
                "dependency_note": self.dependency_note, "started_by": self.started_by,
                "connections": self.connections, "cpu_percent": round(self.cpu, 1), "gpu": self.gpu,
                "message": self.message, "findings": [f.to_dict() for f in self.decision.findings]}

    @property
    def message(self) -> str:
        """The sentence the user reads: what it looks like, why, what was done about it."""
        d = self.decision
        if not self.flagged or not d.findings:
            return "Nothing this process does goes against the usage policy."
        what = CATEGORY_NAMES.get(d.category or "", d.category)
        done = {"terminated": f"The process (pid {self.proc.pid}) was stopped; you can appeal if this is wrong.",
                "stopped": f"The process (pid {self.proc.pid}) is paused until a reviewer looks at it; you can "
                           f"appeal if this is wrong.",
                }.get(self.result.outcome, "It was reported to the operators of this service.")
        msg = f"This looks like {what}: {d.findings[0].explanation} {done} Policy: {d.policy_url}"
        if self.dependency:
            msg += (f" This process was started by the installed package {self.dependency.name} "
                    f"{self.dependency.version} (dependency compromise), not by your code: it does not count "
                    f"against you. Remove or pin that package.")
        return msg

    def event(self, boot: str) -> Event:
        p, o = self.proc, self.proc.owner
        outcome = self.result.outcome
        if outcome == "reported" and self.decision.action in ("allow", "log"):
            outcome = "logged"
        # the same process judged the same way is the same event, even from a restarted watcher
        eid = uuid.uuid5(uuid.NAMESPACE_URL, f"nbwarden-watch:{boot}:{p.pid}:{p.starttime}:{outcome}:"
                                             f"{self.decision.category}").hex
        return Event.of_decision(self.decision, source="watcher", outcome=outcome,
                                 user=o.user if o else None, server=(o.server or o.pod) if o else None,
                                 kernel=self.started_by.get("kernel_id") or f"pid:{p.pid}",
                                 content_hash=hashlib.sha256(p.command.encode("utf-8", "replace")).hexdigest()[:32],
                                 attribution=self.attribution,
                                 detail={k: v for k, v in self.to_dict().items() if k not in ("findings",)}, id=eid)


class Watcher:
    def __init__(self, config: WatchConfig | None = None, *, engine: Engine | None = None,
                 policy: Policy | None = None, reporter=None, gpu: Gpu | None = None,
                 on_verdict: Callable[[Verdict], None] | None = None):
        self.config = config or WatchConfig()
        self.engine = engine or Engine.default()
        self.policy = policy or Policy.load()
        self.reporter = reporter
        self.gpu = gpu if gpu is not None else Gpu()
        self.on_verdict = on_verdict
        self.uid = self.config.uid if self.config.uid is not None else os.geteuid()
        self.roots = set(self.config.roots)
        self.procs: dict[int, Proc] = {}
        self.protection = Protection(self.procs)
        self.actuator = Actuator(self.protection, self.config.grace)
        self.boot = procfs.boot_id()
        self.ticks = 0
        self.verdicts: list[Verdict] = []
        self._command_cache: dict[str, list[Finding]] = {}
        self._recheck: list[int] = []
        self._held_since: dict[int, float] = {}
        self._inode_owner: dict[int, int] = {}
        self._unresolved: dict[int, int] = {}
        self._tables: dict[int, Conn] = {}
        self._net_at = -1e9
        self._new_suspects = False
        self._pods = attribution.pod_names() if self.config.node else {}

    # -- the loop ------------------------------------------------------------------------
    def run(self, duration: float | None = None, max_ticks: int | None = None) -> None:
        """Tick every ``interval`` seconds until ``duration`` seconds or ``max_ticks`` ticks
        have passed (forever when both are None)."""
        t_end = time.monotonic() + duration if duration else None
        nxt = time.monotonic()
        while True:
            self.tick()
            if max_ticks is not None and self.ticks >= max_ticks:
                return
            nxt += self.config.interval
            now = time.monotonic()
            if t_end is not None and now >= t_end:
                return
            time.sleep(max(0.0, min(nxt, t_end or nxt) - now))
            if nxt < now:  # a slow tick: do not try to catch up with a burst
                nxt = now

    def tick(self) -> list[Verdict]:
        now = time.monotonic()
        self.ticks += 1
        pids = procfs.list_pids()
        current = set(pids)
        for pid in [p for p in self.procs if p not in current]:
            del self.procs[pid]
        stats = [st for st in map(procfs.read_stat, (p for p in pids if p not in self.procs)) if st]
        for st in sorted(stats, key=lambda s: s.starttime):  # parents before children
            self._learn(st, now)
        self._recheck_slice(now)
        self._network(now)
        out = []
        for p in [p for p in self.procs.values() if p.suspect]:
            v = self._evaluate(p, now)
            if v is not None:
                out.append(v)
        return out

    # -- learning processes ----------------------------------------------------------------
    def _learn(self, st: procfs.Stat, now: float) -> None:
        parent = self.procs.get(st.ppid)
        p = Proc(st.pid, st.starttime, st.ppid, st.comm, procfs.uid_of(st.pid), st.tty, st.kernel_thread,
                 first_seen=now)
        self.procs[st.pid] = p
        if p.kernel_thread:
            return
        p.in_scope = not self.roots or st.pid in self.roots or (parent is not None and parent.in_scope)
        if not self.config.node:
            p.watched = p.in_scope and p.uid == self.uid and st.pid != os.getpid()
            if not p.watched:
                return
        elif not p.in_scope:
            return
        self._read_details(p, parent)
        p.age_at_first_read = max(0.0, procfs.uptime() - st.starttime / procfs.CLK_TCK)
        p.reread_pending = p.age_at_first_read < self.config.young
        self._static(p)

    def _read_details(self, p: Proc, parent: Proc | None) -> None:
        p.argv = procfs.read_cmdline(p.pid)
        p.exe = procfs.read_link(p.pid, "exe")
        p.cwd = procfs.read_link(p.pid, "cwd")
        env = procfs.read_environ(p.pid)
        p.env_readable = env is not None
        p.env = {k: env[k] for k in ENV_KEYS if k in (env or {})}
        if self.config.node:
            p.cgroup = procfs.read_text(p.pid, "cgroup")
            p.netns = procfs.read_link(p.pid, "ns/net")
        p.role = attribution.role_of(p, parent)
        p.owner = attribution.owner_of(p, parent.owner if parent is not None else None, self._pods)
        if self.config.node:
            # only a hub user's processes may be signalled; other containers (system pods,
            # the hub itself) and host processes are judged and reported, never touched
            o = p.owner
            p.watched = bool(o.user) and o.source in ("env:JUPYTERHUB_USER", "inherited from parent") \
                and p.pid != os.getpid()

    def _static(self, p: Proc) -> None:
        """Signals read once per process (and again after an exec)."""
        p.static = {"command": self._check_command(p.argv) if p.argv else [],
                    "exe": signals.exe_anomalies(p), "tunnel": signals.tunnel_client(p)}
        was = p.suspect
        p.suspect = bool(p.static["command"] or p.static["exe"] or p.static["tunnel"]) or p.suspect
        self._new_suspects |= p.suspect and not was

    def _check_command(self, argv: list[str]) -> list[Finding]:
        key = "\0".join(argv)
        hit = self._command_cache.get(key)
        if hit is None:
            report = self.engine.check_command(argv, name="<process>")
            hit = [f for f in report.findings if not f.waived]
            if len(self._command_cache) > 4096:
                self._command_cache.clear()
            self._command_cache[key] = hit
        return hit

    def _recheck_slice(self, now: float) -> None:
        """Catch exec(): young processes are read again on the next tick; every other known
        process is re-read once every ``recheck_ticks`` ticks, a slice at a time."""
        young = [p for p in self.procs.values() if p.reread_pending]
        if not self._recheck:
            self._recheck = [pid for pid, p in self.procs.items() if p.argv is not None and not p.suspect]
        n = max(1, -(-len(self.procs) // max(1, self.config.recheck_ticks)))
        batch, self._recheck = self._recheck[:n], self._recheck[n:]
        for p in young + [self.procs[pid] for pid in batch if pid in self.procs]:
            p.reread_pending = False
            st = procfs.read_stat(p.pid)
            if st is None:
                continue
            if st.starttime != p.starttime:  # the pid was reused between two listings
                del self.procs[p.pid]
                self._learn(st, now)
                continue
            exe = procfs.read_link(p.pid, "exe")
            if exe != p.exe or st.comm != p.comm:
                p.exe, p.comm = exe, st.comm
                p.argv = procfs.read_cmdline(p.pid)
                self._static(p)
            elif p.age_at_first_read < self.config.young:
                argv = procfs.read_cmdline(p.pid)
                if argv and argv != p.argv:
                    p.argv = argv
                    self._static(p)

    # -- network ---------------------------------------------------------------------------
    def _network(self, now: float) -> None:
        """Refresh the TCP table every ``net_interval`` seconds, or sooner (at most once a
        second) when a new suspect needs its connections. Dumping a namespace's sockets
        costs the kernel a walk of its whole hash table (about 10 ms on a big host, with
        sock_diag or /proc/net/tcp alike), so it is the one thing not done every tick."""
        due = now - self._net_at >= self.config.net_interval
        hurry = self._new_suspects and now - self._net_at >= 1.0
        if not (due or hurry):
            return
        self._net_at, self._new_suspects = now, False
        tables: dict[int, Conn] | None = None
        if self.config.node:
            mine = procfs.read_link("self", "ns/net")
            reps: dict[str, int] = {}
            for p in self.procs.values():
                if p.netns and p.netns != mine and p.netns not in reps:
                    reps[p.netns] = p.pid
            tables = read_diag() or read_tables("self")
            for pid in reps.values():
                tables.update(read_tables(pid))
        else:
            tables = read_diag()
            if tables is None:
                tables = read_tables("self")
        self._tables = tables
        held = self._held_since
        for inode in [i for i in held if i not in tables]:
            del held[inode]
        for inode in tables:
            held.setdefault(inode, now)
        for inode in [i for i in self._inode_owner if i not in tables]:
            del self._inode_owner[inode]
        wanted = [c for c in tables.values()
                  if (c.established and c.remote[1] in POOL_PORTS)
                  or (c.listening and c.local[1] in REMOTE_ACCESS_PORTS and not c.loopback_only)]
        missing = [c.inode for c in wanted if c.inode not in self._inode_owner
                   and self.ticks - self._unresolved.get(c.inode, -99) >= 10]
        if missing:
            self._resolve(set(missing))
        for c in wanted:
            p = self.procs.get(self._inode_owner.get(c.inode, -1))
            if p is not None and p.argv is not None:
                p.suspect = True

    def _resolve(self, inodes: set[int], budget: int = 400) -> None:
        """Find which watched processes hold these sockets, newest processes first."""
        cands = sorted((p for p in self.procs.values() if p.argv is not None and not p.kernel_thread),
                       key=lambda p: -p.starttime)
        for p in cands[:budget]:
            for inode in procfs.socket_inodes(p.pid):
                if inode in self._tables:
                    self._inode_owner[inode] = p.pid
            inodes -= self._inode_owner.keys()
            if not inodes:
                return
        for i in inodes:
            self._unresolved[i] = self.ticks

    # -- judging ---------------------------------------------------------------------------
    def _evaluate(self, p: Proc, now: float) -> Verdict | None:
        st = procfs.read_stat(p.pid)
        if st is None or not st.alive or st.starttime != p.starttime:
            return None
        p.samples.append((now, st.cpu_ticks))
        inodes = procfs.socket_inodes(p.pid)
        for i in inodes:
            if i in self._tables:
                self._inode_owner[i] = p.pid
        conns = [self._tables[i] for i in inodes if i in self._tables]
        context = {}
        if p.static["exe"]:  # one piece of evidence naming every oddity of the executable
            context["exe"] = signals.evidence(p.exe, p.exe or "", "exe: " + "; ".join(
                e.fact.removeprefix("exe: ") for e in p.static["exe"]))
        cpu, span = p.cpu_percent(self.config.cpu_window)
        if cpu >= self.config.cpu_busy and span >= self.config.cpu_window * 0.9:
            context["cpu"] = signals.evidence(p.exe, f"{cpu:.0f}% of a core over {span:.0f} s",
                                              f"cpu: sustained >= {self.config.cpu_busy:.0f}% of a core")
        gpu_use = self.gpu.usage().get(p.pid) if self.gpu.available else None
        if gpu_use and gpu_use.sm >= self.config.gpu_busy:
            context["gpu"] = signals.evidence(p.exe, gpu_use.describe(),
                                              f"gpu: busy >= {self.config.gpu_busy}% compute")
        conn_findings, conn_context = signals.connection_findings(
            p, conns, held_for={i: now - t for i, t in self._held_since.items()}, long_lived=self.config.long_lived)
        context.update(conn_context)
        found = list(p.static["command"]) + conn_findings
        if p.static["tunnel"]:
            found.append(p.static["tunnel"])
        hidden = signals.hidden_miner(p, p.static["exe"], context, conns)
        if hidden:
            found.append(hidden)
        findings = signals.combine(found, context)
        p.latest = findings
        if not findings:
            return None
        decision = self.policy.decide(findings, self.config.tier)
        if decision.category is None:
            return None
        key = (decision.action, decision.category)
        if p.reported == key:
            return None
        p.reported = key
        chain = attribution.lineage(p, self.procs)
        # act first: who is to blame changes the strike, never whether the process may run on
        result = self._act(p, decision)
        if not p.dependency_done:
            p.dependency_done = True
            # a node agent reads the container's files through a live process of the chain
            root = f"/proc/{chain[-1].pid if len(chain) > 1 else p.pid}/root" if self.config.node else ""
            try:
                p.dependency, note = dependency.find(chain, root=root)
            except Exception as e:  # a package folder that cannot be read must not stop the watcher
                p.dependency, note = None, f"could not check installed packages: {type(e).__name__}: {e}"
            p.static["dependency_note"] = note
        if p.dependency is not None:
            findings = [_with_dependency(f, p.dependency) for f in decision.findings]
            decision.findings = findings
        v = Verdict(p, findings, decision, attribution.started_by(chain), p.dependency,
                    p.static.get("dependency_note", ""), result, self.config.enforce,
                    [c.describe() for c in conns][:10], cpu, gpu_use.describe() if gpu_use else None)
        self.verdicts.append(v)
        if self.reporter is not None:
            self.reporter.report(v.event(self.boot))
        if self.on_verdict is not None:
            self.on_verdict(v)
        return v

    def _act(self, p: Proc, decision: Decision) -> ActionResult:
        action = decision.action
        if action not in ("block", "terminate"):
            return ActionResult("reported", [f"policy action {action}: nothing to do to the process"])
        verb = "terminate" if action == "terminate" else "stop (SIGSTOP, pending review)"
        if not self.config.enforce:
            why = self.protection.reason(p)
            note = f"would {verb} pid {p.pid} and its descendants" if not why else \
                f"would not signal pid {p.pid}: {why}"
            return ActionResult("reported", [f"report mode: {note}; run with --enforce to act"])
        if action == "terminate":
            return self.actuator.terminate(p, self.procs)
        return self.actuator.stop(p, self.procs)

    def close(self) -> None:
        self.gpu.close()


def _with_dependency(f: Finding, dep: dependency.Dependency) -> Finding:
    return Finding(f.rule_id, f.category, f.confidence, f.severity, f.title,
                   f"{f.explanation} Started by the installed package {dep.name} {dep.version}: "
                   f"dependency compromise, not the user's code.", f.evidence, f.waived)


def once(watcher: Watcher, settle: float | None = None) -> list[Verdict]:
    """Two ticks ``settle`` seconds apart (CPU needs two samples), then the verdicts."""
    watcher.tick()
    time.sleep(watcher.config.interval if settle is None else settle)
    watcher.tick()
    latest: dict[tuple[int, int], Verdict] = {}
    for v in watcher.verdicts:
        latest[(v.proc.pid, v.proc.starttime)] = v
    return list(latest.values())


__all__ = ["WatchConfig", "Watcher", "Verdict", "once"]


