"""nbwarden policy show|check: the published policy as a table."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("policy", help="show or check a policy file")
    s = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    for name, fn, h in (("show", _show, "print the policy as a table"), ("check", _check, "validate a policy file")):
        q = s.add_parser(name, help=h)
        q.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
        q.set_defaults(func=fn)


def _show(args) -> int:
    from ..policy import Policy
    pol = Policy.load(args.policy)
    print(f"{pol.name} (version {pol.version}) — {pol.url}\n")
    rows = pol.table()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nA category acts from confidence {pol.threshold}. Inline waivers are honoured on: "
          f"{', '.join(sorted(pol.honour_waivers)) or 'no tier'}.")
    print(f"\nEscalation (strikes within {pol.window.days} days):")
    for s in pol.ladder:
        print(f"  {s.strikes} -> {s.standing}: {s.consequence}")
    print("Events caused by a compromised dependency never count as strikes.")
    return 0


def _check(args) -> int:
    from ..policy import Policy
    pol = Policy.load(args.policy)
    print(f"{pol.source}: ok ({len(pol.actions)} categories, tiers {', '.join(pol.tiers)})")
    return 0
