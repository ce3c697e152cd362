"""nbwarden scan PATH...: check notebooks, scripts and shell files against the policy."""
from __future__ import annotations

import os
import sys


def register(sub) -> None:
    p = sub.add_parser("scan", help="scan notebooks, scripts, shell files, folders; '-' reads stdin",
                       description="Exit status: 0 nothing flagged, 1 something flagged, 2 errors only.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", "-f", choices=("human", "jsonl", "sarif"), default="human")
    p.add_argument("--jobs", "-j", type=int, default=1, help="processes to use (0 = one per core)")
    p.add_argument("--rules", action="append", default=[], metavar="DIR", help="an extra rule pack folder (repeatable)")
    p.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
    p.add_argument("--tier", help="tier whose actions apply (default: the policy's default tier)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--verbose", "-v", action="store_true", help="list files that passed too")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..engine import Engine
    from ..output import writer
    from ..policy import Policy
    from ..scanner import scan_many

    Policy.load(args.policy)  # fail early and clearly on a bad policy or rule pack
    engine = Engine.default(tuple(args.rules))
    jobs = os.cpu_count() or 1 if args.jobs == 0 else max(1, args.jobs)
    color = {"auto": None, "always": True, "never": False}[args.color]
    w = writer(args.format, sys.stdout, color=color, verbose=args.verbose, rules=engine.rules)
    flagged = errors = ok = 0
    for report in scan_many(args.paths, jobs=jobs, extra_rules=tuple(args.rules), policy_path=args.policy,
                            tier=args.tier):
        w.write(report)
        if report.error:
            errors += 1
        elif report.verdict == "flag":
            flagged += 1
        else:
            ok += 1
    w.close()
    if flagged:
        return 1
    return 2 if errors and not ok else 0
