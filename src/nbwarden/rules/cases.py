"""Every rule carries its own proof. A pack's ``cases.yaml`` lists cases:

    cases:
      - name: xmrig started from a cell
        flag: [NBW201]            # these rules must fire
        code: |                   # a Python/IPython cell; or `shell:`, or `cells: [...]`,
          !./xmrig -o stratum+tcp://pool.example:3333   # or `file: {name: x, text: ...}`
      - name: a Bitcoin lesson with a /mine route
        clean: [mining]           # no finding of these rules or categories
        code: ...
      - name: a renamed binary fed its pool from an env file
        known_miss: [NBW201]      # documented evasion: must NOT fire today (update when fixed)
        code: ...

One generic test (tests/test_rule_cases.py, and ``nbwarden rules test``) runs them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from ..engine.model import PYTHON, SHELL, Unit
from ..engine.ruleset import CATEGORIES, RuleSet

_KEYS = {"name", "flag", "clean", "known_miss", "code", "shell", "cells", "file", "note"}


@dataclass
class Case:
    name: str
    where: str
    flag: list[str] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)
    known_miss: list[str] = field(default_factory=list)
    units: list[Unit] | None = None
    file: tuple[str, str] | None = None


def load_cases(rs: RuleSet, only: str | None = None) -> list[Case]:
    out = []
    for pack, d in rs.packs.items():
        if only and pack != only:
            continue
        f = d / "cases.yaml"
        if not f.is_file():
            continue
        doc = yaml.load(f.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        for i, raw in enumerate(doc.get("cases") or []):
            where = f"{f}: cases[{i}]"
            extra = set(raw) - _KEYS
            if extra:
                raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(_KEYS))}")
            c = Case(str(raw.get("name", f"case {i}")), where, list(raw.get("flag") or []),
                     list(raw.get("clean") or []), list(raw.get("known_miss") or []))
            if not (c.flag or c.clean or c.known_miss):
                raise ValueError(f"{where}: say what must happen: flag, clean or known_miss")
            if "code" in raw:
                c.units = [Unit(raw["code"], PYTHON, cell=0)]
            elif "shell" in raw:
                c.units = [Unit(raw["shell"], SHELL)]
            elif "cells" in raw:
                c.units = [Unit(src, PYTHON, cell=j) for j, src in enumerate(raw["cells"])]
            elif "file" in raw:
                c.file = (raw["file"]["name"], raw["file"]["text"])
            else:
                raise ValueError(f"{where}: give code, shell, cells or file")
            out.append(c)
    return out


def run_case(engine, case: Case) -> list[str]:
    if case.file:
        report = engine.scan_bytes(case.file[1].encode(), case.file[0])
    else:
        report = engine.scan_units(case.units, "<case>")
    if report.error:
        return [f"scan error: {report.error}"]
    fired = {f.rule_id for f in report.findings if not f.waived}
    cats = {f.category for f in report.findings if not f.waived}
    problems = []
    for rid in case.flag:
        if rid not in fired:
            problems.append(f"{rid} must flag but did not (fired: {sorted(fired) or 'nothing'})")
    for x in case.clean:
        if x in fired or x in cats:
            hit = [f for f in report.findings if f.rule_id == x or f.category == x]
            ev = "; ".join(f"{f.rule_id}: {e.fact}" for f in hit for e in f.evidence[:3])
            problems.append(f"{x} must not flag but did ({ev})")
    for rid in case.known_miss:
        if rid in fired:
            problems.append(f"{rid} is listed as a known miss but now flags: move the case to flag:")
    return problems


def lint(rs: RuleSet) -> list[str]:
    """Every rule needs a case that must flag and a case that must not (a clean case naming
    the rule or its category)."""
    cases = load_cases(rs)
    problems = []
    for r in rs.rules:
        pos = any(r.id in c.flag for c in cases)
        neg = any(r.id in c.clean or r.category in c.clean for c in cases if c.where.startswith(str(rs.packs[r.pack])))
        if not pos:
            problems.append(f"{r.id}: no case that must flag (add one to {rs.packs[r.pack] / 'cases.yaml'})")
        if not neg:
            problems.append(f"{r.id}: no case that must not flag (a near miss, under clean:)")
        if len(r.explanation) > 240:
            problems.append(f"{r.id}: explanation is for a dialog; keep it under 240 characters")
    for cat in CATEGORIES:
        if not any(r.category == cat for r in rs.rules):
            problems.append(f"category {cat}: no rule yet")
    return problems
