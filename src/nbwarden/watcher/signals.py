"""Runtime signals, each turned into engine-style findings with evidence.

Two kinds of signal:

* **Signals that name a category** and can flag on their own: the command line (through
  the engine's rules, e.g. NBW201 stratum URL, NBW203 miner-shaped command), a connection to
  a pool port (NBW902, weak alone), a tunnel client (NBW903), a remote-access server
  listening on a reachable address (NBW904), and the "hidden miner" shape (NBW901: a hidden
  executable that burns CPU or GPU while holding an outbound connection).
* **Context** that only raises the confidence of those findings and is added to their
  evidence: a hidden or deleted executable, sustained CPU, GPU use, a connection to the
  very pool the command line names, a long-lived outbound connection. CPU or GPU alone
  never flags anything: training a model is what the machine is for.

Rule ids NBW9xx are the watcher's; the engine's own ids come through unchanged.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

from ..engine.model import Evidence, Finding
from . import procfs
from .net import POOL_PORTS, REMOTE_ACCESS_PORTS, Conn
from .process import Proc

TEMP_DIRS = ("/dev/shm/", "/tmp/", "/var/tmp/", "/run/shm/")
_KTHREAD_NAMES = re.compile(r"^(?:kworker|kthreadd|ksoftirqd|kswapd|migration|rcu_|watchdog|jbd2|khugepaged|kdevtmpfs|"
                            r"kauditd|irq/|cpuhp)")
TUNNEL_CLIENTS = {"ngrok", "cloudflared", "bore", "frpc", "chisel", "zrok", "tmate", "localtunnel", "lt", "loophole",
                  "telebit", "playit", "pagekite.py", "sish", "rathole", "inlets", "gotty", "ttyd", "upterm"}
_TUNNEL_ARGS = re.compile(r"(?:^|/)(?:localtunnel|pyngrok|ngrok|cloudflared)(?:/|$)")
_HOSTPORT = re.compile(r"(?:^|[/=@\s])([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{2,5})(?:$|[/\s])")

#: Boosts that context adds to a category finding's confidence (capped at 0.99).
BOOST = {"exe": 0.15, "cpu": 0.10, "gpu": 0.05, "named-pool": 0.10, "long-lived": 0.05}


@dataclass(frozen=True, slots=True)
class RuntimeRule:
    id: str
    category: str
    severity: str
    confidence: float
    title: str
    explanation: str


RULES = {r.id: r for r in (
    RuntimeRule("NBW901", "mining", "high", 0.6, "Hidden executable burning CPU with a held connection",
                "A program running from a hidden, deleted or temporary file keeps the CPU or GPU busy while "
                "holding a connection open, which is how a renamed miner behaves."),
    RuntimeRule("NBW902", "mining", "medium", 0.3, "Connection to a mining-pool port",
                "This process holds a connection to a port mining pools use."),
    RuntimeRule("NBW903", "remote.tunnel", "high", 0.7, "Tunnel client running",
                "This process is a tunnel client (ngrok, cloudflared, bore...) that exposes the notebook machine."),
    RuntimeRule("NBW904", "remote.desktop", "medium", 0.6, "Remote-access server listening",
                "This process serves SSH, VNC or RDP on an address other machines can reach."),
)}


def evidence(exe: str | None, snippet: str, fact: str) -> Evidence:
    return Evidence(file=exe, cell=None, line=0, snippet=snippet[:300], fact=fact)


def runtime_finding(rule_id: str, ev: list[Evidence], *, category: str | None = None,
                    confidence: float | None = None) -> Finding:
    r = RULES[rule_id]
    return Finding(r.id, category or r.category, r.confidence if confidence is None else confidence, r.severity,
                   r.title, r.explanation, ev)


# -- signals read once, when a process is first seen --------------------------------------
def exe_anomalies(p: Proc) -> list[Evidence]:
    """What is odd about where the program runs from and what it calls itself."""
    if not p.exe:
        return []
    out = []
    exe = p.exe
    deleted = exe.endswith(" (deleted)")
    path = exe.removesuffix(" (deleted)")
    base = os.path.basename(path)
    if path.startswith("/memfd:"):
        out.append(evidence(exe, exe, "exe: runs from an anonymous memory file (memfd)"))
    elif deleted:
        out.append(evidence(exe, exe, "exe: its program file was deleted after it started"))
    temp = next((d for d in TEMP_DIRS if path.startswith(d)), None)
    if temp:
        out.append(evidence(exe, exe, f"exe: runs from a temporary folder ({temp.rstrip('/')})"))
    if base.startswith("."):
        out.append(evidence(exe, exe, "exe: hidden file name"))
    argv = p.argv or [""]
    if _KTHREAD_NAMES.match(p.comm) or (argv[0].startswith("[") and argv[0].endswith("]")):
        out.append(evidence(exe, f"calls itself {p.comm!r} / {argv[0]!r}", "exe: pretends to be a kernel thread"))
    elif p.argv and not path.startswith("/memfd:") and _name_mismatch(p, path):
        out.append(evidence(exe, f"calls itself {p.comm!r} but runs {path}", "exe: name does not match the program"))
    return out


def _name_mismatch(p: Proc, path: str) -> bool:
    """comm is the name of the file exec() was given. It is explained when that file is the
    program itself, a link to it (python3 -> python3.11, a venv's bin/python, sh -> dash), or
    a script run through its #! interpreter (argv[1]); a program hidden in a temporary folder
    gets no such excuse. argv[0] alone explains nothing: the caller chooses it freely."""
    comm, argv = p.comm, p.argv or []
    if comm == os.path.basename(path)[:15]:
        return False
    if path.startswith(TEMP_DIRS) or os.path.basename(path).startswith("."):
        return True  # a link named python3 to a hidden file in /dev/shm is the disguise, not an excuse
    if procfs.read_link(p.pid, "ns/mnt") != procfs.read_link("self", "ns/mnt"):
        return False  # another mount namespace (a container): its links cannot be followed from here
    cands = [os.path.join(os.path.dirname(path), comm)]
    for a in argv[:2]:
        if os.path.basename(a)[:15] == comm:
            cands.append(a if a.startswith("/") else os.path.join(p.cwd or "/", a))
    for c in cands:
        try:
            if os.path.realpath(c) == path:
                return False
        except OSError:
            continue
    if len(argv) > 1 and os.path.basename(argv[1])[:15] == comm:  # #! script: exe is its interpreter
        script = argv[1] if argv[1].startswith("/") else os.path.join(p.cwd or "/", argv[1])
        return not os.path.isfile(script)
    found = shutil.which(comm)
    return not (found and os.path.realpath(found) == path)


def tunnel_client(p: Proc) -> Finding | None:
    names = {p.comm, os.path.basename((p.exe or "").removesuffix(" (deleted)"))}
    argv = p.argv or []
    if argv:
        names.add(os.path.basename(argv[0]))
    hit = names & TUNNEL_CLIENTS
    if not hit:
        hit = {a for a in argv[:3] if _TUNNEL_ARGS.search(a)}
    if not hit:
        return None
    return runtime_finding("NBW903", [evidence(p.exe, p.command, f"program: tunnel client {sorted(hit)[0]}")])


def command_endpoints(argv: list[str] | None) -> set[tuple[str, int]]:
    """host:port pairs the command line names (a pool URL, -o host:port)."""
    out = set()
    for a in argv or ():
        for m in _HOSTPORT.finditer(" " + a + " "):
            host = m.group(1).strip("[]").lower()
            out.add((host, int(m.group(2))))
    return out


# -- signals read every tick for suspects --------------------------------------------------
def connection_findings(p: Proc, conns: list[Conn], *, held_for: dict[int, float], long_lived: float
                        ) -> tuple[list[Finding], dict[str, Evidence]]:
    """Findings the connections make on their own, and context evidence they add."""
    findings, context = [], {}
    named = command_endpoints(p.argv)
    pool = [c for c in conns if c.established and c.remote[1] in POOL_PORTS]
    if pool:
        c = pool[0]
        findings.append(runtime_finding("NBW902", [evidence(p.exe, c.describe(),
                                                            f"connection: remote port {c.remote[1]}")]))
    for c in conns:
        if not c.established:
            continue
        host = c.remote[0].lower()
        if (host, c.remote[1]) in named or any(port == c.remote[1] and h in ("localhost",) and
                                                host in ("127.0.0.1", "::1") for h, port in named):
            context["named-pool"] = evidence(p.exe, c.describe(),
                                             "connection: to the endpoint its own command line names")
            break
    long = [c for c in conns if c.established and held_for.get(c.inode, 0.0) >= long_lived]
    if long:
        context["long-lived"] = evidence(p.exe, long[0].describe(),
                                         f"connection: outbound connection held over {int(long_lived)} s")
    for c in conns:
        cat = REMOTE_ACCESS_PORTS.get(c.local[1])
        if c.listening and cat and not c.loopback_only:
            findings.append(runtime_finding("NBW904", [evidence(p.exe, c.describe(),
                                                                f"listener: port {c.local[1]}")], category=cat))
            break
    return findings, context


def combine(category_findings: list[Finding], context: dict[str, Evidence]) -> list[Finding]:
    """Raise each category finding by the context present and add that context to its
    evidence. NBW901 is itself made of context, so it is not raised again."""
    out = []
    for f in category_findings:
        if f.rule_id == "NBW901" or not context:
            out.append(f)
            continue
        # connection context corroborates a miner named elsewhere (its command line); for the
        # port-only finding it would count the same connection twice
        about_pool = f.category == "mining" and f.rule_id != "NBW902"
        keys = [k for k in context if k in BOOST and (about_pool or k in ("exe", "cpu", "gpu"))]
        conf = min(0.99, f.confidence + sum(BOOST[k] for k in keys))
        ev = list(f.evidence) + [context[k] for k in keys]
        out.append(Finding(f.rule_id, f.category, conf, f.severity, f.title, f.explanation, ev[:24], f.waived))
    out.sort(key=lambda f: (-f.confidence, f.rule_id))
    return out


def hidden_miner(p: Proc, exe_ev: list[Evidence], context: dict[str, Evidence],
                 conns: list[Conn]) -> Finding | None:
    """NBW901: hidden executable + busy CPU/GPU + an established outbound connection."""
    busy = context.get("cpu") or context.get("gpu")
    outbound = [c for c in conns if c.established]
    if not exe_ev or not busy or not outbound:
        return None
    conn = evidence(p.exe, outbound[0].describe(), "connection: holds an outbound connection")
    return runtime_finding("NBW901", [exe_ev[0], busy, conn])
