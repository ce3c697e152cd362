"""nbwarden watch: the runtime watcher (see docs/watcher.md).

Exit status of ``--once``: 0 nothing flagged, 1 something flagged, 2 bad usage.
"""
from __future__ import annotations

import os
import signal
import sys


def register(sub) -> None:
    p = sub.add_parser("watch", help="watch running processes (miners, tunnels...) and act by the policy",
                       description="Watches processes through /proc: command lines, executables, CPU, "
                                   "connections, listeners, GPU. Reports by default; --enforce acts. "
                                   "--once: exit 0 nothing flagged, 1 something flagged.")
    p.add_argument("--once", action="store_true", help="look twice, --interval apart, print findings and exit")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between polls (default 1)")
    p.add_argument("--duration", type=float, default=0, metavar="SECONDS",
                   help="stop after this many seconds (default 0: run until interrupted)")
    p.add_argument("--node", action="store_true",
                   help="node agent (root): every process, attributed to JupyterHub users, servers and pods; "
                        "default when run as root")
    p.add_argument("--root-pid", type=int, action="append", default=[], metavar="PID",
                   help="watch only this process and its descendants (repeatable)")
    p.add_argument("--enforce", action="store_true",
                   help="act as the policy says (SIGSTOP for block, SIGTERM/SIGKILL for terminate); "
                        "default: report only")
    p.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
    p.add_argument("--tier", help="tier whose actions apply (default: the policy's default tier)")
    p.add_argument("--grace", type=float, default=3.0, metavar="SECONDS",
                   help="seconds between SIGTERM and SIGKILL (default 3)")
    p.add_argument("--cpu-window", type=float, default=10.0, metavar="SECONDS",
                   help="window for sustained CPU (default 10; --once uses --interval)")
    p.add_argument("--cpu-busy", type=float, default=80.0, metavar="PERCENT",
                   help="%% of one core that counts as busy over the window (default 80)")
    p.add_argument("--events", metavar="FILE", help="SQLite event store (default: ~/.local/share/nbwarden)")
    p.add_argument("--service-url", default=os.environ.get("NBWARDEN_SERVICE_URL"), metavar="URL",
                   help="policy service to report to (default $NBWARDEN_SERVICE_URL; token from $NBWARDEN_TOKEN)")
    p.add_argument("--format", "-f", choices=("human", "jsonl"), default="human")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..policy import Policy
    from ..reporting import Reporter
    from ..watcher import WatchConfig, Watcher, once
    from ..watcher.output import writer

    if args.interval <= 0 or args.grace < 0 or args.cpu_window <= 0 or args.cpu_busy <= 0:
        print("nbwarden watch: --interval, --cpu-window and --cpu-busy must be positive, --grace not negative",
              file=sys.stderr)
        return 2
    root = os.geteuid() == 0
    node = args.node or (root and not args.root_pid)
    if args.node and not root:
        print("nbwarden watch: --node needs root (other users' /proc/PID/environ and fd are private); "
              "watching your own processes instead", file=sys.stderr)
        node = False
    policy = Policy.load(args.policy)
    if args.tier and args.tier not in policy.tiers:
        print(f"nbwarden watch: unknown tier {args.tier!r}; tiers: {', '.join(policy.tiers)}", file=sys.stderr)
        return 2
    missing = [pid for pid in args.root_pid if not os.path.exists(f"/proc/{pid}")]
    if missing:
        print(f"nbwarden watch: no such process: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    config = WatchConfig(interval=args.interval, node=node, roots=tuple(args.root_pid), enforce=args.enforce,
                         tier=args.tier, grace=args.grace, cpu_busy=args.cpu_busy,
                         cpu_window=min(args.cpu_window, args.interval) if args.once else args.cpu_window)
    color = {"auto": sys.stdout.isatty(), "always": True, "never": False}[args.color]
    out = writer(args.format, sys.stdout, color)
    reporter = Reporter.from_config(args.events, args.service_url, os.environ.get("NBWARDEN_TOKEN"))
    watcher = Watcher(config, policy=policy, reporter=reporter, on_verdict=None if args.once else out.write)
    try:
        if args.once:
            verdicts = once(watcher)
            for v in verdicts:
                out.write(v)
            if args.format == "human":
                print(f"{len(watcher.procs)} processes seen, {sum(v.flagged for v in verdicts)} flagged"
                      f"{'' if args.enforce else ' (report only: --enforce to act)'}")
            return 1 if any(v.flagged for v in verdicts) else 0
        signal.signal(signal.SIGTERM, _stop)
        mode = "node agent" if node else f"user {os.geteuid()}"
        print(f"nbwarden watch: {mode}, every {args.interval:g} s, "
              f"{'enforcing' if args.enforce else 'report only'}; GPU: "
              f"{'NVML' if watcher.gpu.available else watcher.gpu.reason}", file=sys.stderr)
        watcher.run(duration=args.duration or None)
        return 0
    finally:
        watcher.close()
        reporter.flush()
        reporter.close()


def _stop(*_) -> None:
    """systemd and Kubernetes stop the agent with SIGTERM: leave by the same clean path as ^C."""
    raise KeyboardInterrupt
