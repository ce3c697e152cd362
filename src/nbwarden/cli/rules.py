"""nbwarden rules list|show ID|test|lint: the rules are data; these commands read them."""
from __future__ import annotations

import sys
import textwrap


def register(sub) -> None:
    p = sub.add_parser("rules", help="list, show, test and lint detection rules")
    p.add_argument("--rules", action="append", default=[], metavar="DIR", help="an extra rule pack folder")
    s = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    s.add_parser("list", help="one line per rule").set_defaults(func=_list)
    sh = s.add_parser("show", help="a rule's full description")
    sh.add_argument("rule_id")
    sh.set_defaults(func=_show)
    t = s.add_parser("test", help="run every rule's fixture cases")
    t.add_argument("--pack", help="only this pack")
    t.set_defaults(func=_test)
    s.add_parser("lint", help="check every rule has cases that must flag and must not").set_defaults(func=_lint)


def _load(args):
    from ..engine import ruleset
    return ruleset.load(args.rules)


def _list(args) -> int:
    rs = _load(args)
    for r in sorted(rs.rules, key=lambda r: r.id):
        print(f"{r.id}  {r.category:<22} {r.severity:<8} {r.confidence:.2f} {r.maturity:<10} {r.title}")
    print(f"{len(rs.rules)} rules in {len(rs.packs)} packs")
    return 0


def _show(args) -> int:
    rs = _load(args)
    r = rs.get(args.rule_id.upper())
    if r is None:
        print(f"nbwarden: no rule {args.rule_id}; see 'nbwarden rules list'", file=sys.stderr)
        return 2
    print(f"{r.id}: {r.title}\n")
    for k in ("category", "severity", "confidence", "maturity", "pack", "source"):
        print(f"  {k:<12} {getattr(r, k)}")
    for k in ("description", "explanation", "evasions", "false_positives"):
        print(f"\n{k.replace('_', ' ').capitalize()}:\n" + textwrap.indent(textwrap.fill(getattr(r, k), 88), "  "))
    if r.references:
        print("\nReferences:\n" + "\n".join(f"  - {x}" for x in r.references))
    return 0


def _test(args) -> int:
    from ..rules.cases import load_cases, run_case
    from ..engine import Engine
    rs = _load(args)
    engine = Engine(rs)
    failed = total = 0
    for case in load_cases(rs, only=args.pack):
        total += 1
        problems = run_case(engine, case)
        if problems:
            failed += 1
            print(f"FAIL {case.where}: {case.name}")
            for p in problems:
                print(f"     {p}")
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


def _lint(args) -> int:
    from ..engine.matcher import Matcher
    from ..rules.cases import lint
    rs = _load(args)
    Matcher(rs).compile_all()  # every regex compiles (a RuleError says which does not)
    problems = lint(rs)
    for p in problems:
        print(p)
    print(f"{len(rs.rules)} rules checked, {len(problems)} problems")
    return 1 if problems else 0
