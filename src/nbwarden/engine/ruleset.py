"""Rules as data: loading and strictly checking rule packs.

A pack is a folder with ``rules.yaml`` (lists, macros, rules) and ``cases.yaml`` (the
rule's own proof: code that must flag and code that must not). Unknown keys are refused
and every error names the file, the item and how to fix it. The condition language:

    when:                       # a condition is one of
      all: [cond, ...]          #   every one holds
      any: [cond, ...]          #   at least one holds
      not: cond                 #   does not hold (contributes no evidence)
      at_least: 2               #   at least N of ...
      of: [cond, ...]
      macro: name               #   a named condition from any pack
      import: [insightface]     #   a match: fact kind -> patterns (see FACT_KINDS);
      string: {regex: [...]}    #   several kinds in one mapping are alternatives
    unless: cond                # a named near miss that clears the rule

Patterns are lists of text, or a mapping of mode -> list, with modes ``exact``, ``word``,
``contains``, ``prefix``, ``suffix``, ``module`` (a dotted name or anything under it) and
``regex`` (RE2 syntax: linear time on any input). ``$name`` stands for a list's items. All
matching ignores case.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model import FACT_KINDS

BUILTIN_RULES = Path(__file__).resolve().parent.parent / "rules"
CATEGORIES = ("deepfake.faceswap", "deepfake.reenactment", "deepfake.voice", "mining", "remote.tunnel",
              "remote.desktop", "remote.shell", "remote.webui", "torrent", "proxy", "attack.dos",
              "attack.scan", "cracking", "filehosting")
SEVERITIES = ("low", "medium", "high", "critical")
MATURITIES = ("sandbox", "incubating", "stable")
MODES = ("exact", "word", "contains", "prefix", "suffix", "module", "regex")
DEFAULT_MODE = {"import": "module", "call": "suffix", "program": "exact", "package": "exact",
                "define": "word", "repo": "contains", "host": "suffix", "path": "word", "behaviour": "exact",
                "location": "contains"}
RULE_KEYS = {"id": True, "title": True, "category": True, "severity": True, "confidence": True,
             "maturity": True, "description": True, "explanation": True, "evasions": True,
             "false_positives": True, "references": False, "when": True, "unless": False}
OPERATORS = {"all", "any", "not", "at_least", "of", "macro"}
_ID = re.compile(r"^NBW\d{3,4}$")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: rules load 10x faster


class RuleError(ValueError):
    """A rule pack that does not load; the message says where and how to fix it."""


@dataclass
class Rule:
    id: str
    title: str
    category: str
    severity: str
    confidence: float
    maturity: str
    description: str
    explanation: str
    evasions: str
    false_positives: str
    references: list[str]
    when: dict
    unless: dict | None
    pack: str
    source: str

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("id", "title", "category", "severity", "confidence", "maturity",
                                               "description", "explanation", "evasions", "false_positives",
                                               "references", "pack", "source")}


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    macros: dict[str, dict] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    packs: dict[str, Path] = field(default_factory=dict)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _rule_entry_points():
    """Installed packages' ``nbwarden.rules`` entry points. A plain look at each
    distribution's entry_points.txt first: importlib.metadata costs about 0.1 s of start-up
    and is only needed when some package does register a pack."""
    import os
    import sys
    for folder in sys.path:
        try:
            with os.scandir(folder or ".") as it:
                names = [e.path for e in it if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for dist in names:
            try:
                with open(os.path.join(dist, "entry_points.txt"), encoding="utf-8") as f:
                    if "[nbwarden.rules]" not in f.read():
                        continue
            except OSError:
                continue
            import importlib.metadata
            return importlib.metadata.entry_points(group="nbwarden.rules")
    return []


def pack_dirs(extra: list[str | Path] = (), *, entry_points: bool = True) -> list[Path]:
    """Builtin packs, then packs registered by installed packages under the entry-point
    group ``nbwarden.rules`` (each a folder path or a module attribute naming one), then
    ``extra`` folders given by the operator."""
    dirs = sorted(p for p in BUILTIN_RULES.iterdir() if (p / "rules.yaml").is_file())
    if entry_points:
        for ep in _rule_entry_points():
            try:
                target = ep.load()
            except Exception as e:  # a broken outside pack must not stop the builtin rules
                raise RuleError(f"rule pack entry point {ep.name!r} failed to load: {e}") from None
            root = Path(str(target))
            dirs.extend(sorted(p for p in [root, *root.iterdir()] if (p / "rules.yaml").is_file()))
    for x in extra:
        root = Path(x)
        if (root / "rules.yaml").is_file():
            dirs.append(root)
        elif root.is_dir():
            dirs.extend(sorted(p for p in root.iterdir() if (p / "rules.yaml").is_file()))
        else:
            raise RuleError(f"{root}: no rules.yaml there or in its sub-folders")
    return dirs


def load(extra: list[str | Path] = (), *, entry_points: bool = True) -> RuleSet:
    rs = RuleSet()
    seen: dict[str, str] = {}
    for d in pack_dirs(extra, entry_points=entry_points):
        _load_pack(rs, d, seen)
    for rule in rs.rules:
        _check_condition(rs, rule.when, f"{rule.source}: rule {rule.id}: when")
        if rule.unless is not None:
            _check_condition(rs, rule.unless, f"{rule.source}: rule {rule.id}: unless")
    for name, cond in rs.macros.items():
        _check_condition(rs, cond, f"macro {name}")
    return rs


def _load_pack(rs: RuleSet, d: Path, seen: dict[str, str]) -> None:
    src = d / "rules.yaml"
    try:
        doc = yaml.load(src.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise RuleError(f"{src}: invalid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise RuleError(f"{src}: expected a mapping with keys pack, lists, macros, rules")
    _keys(doc, {"pack", "description", "lists", "macros", "rules"}, str(src))
    pack = doc.get("pack") or d.name
    rs.packs[pack] = d
    for name, items in (doc.get("lists") or {}).items():
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            raise RuleError(f"{src}: list {name}: must be a list of text items")
        if name in rs.lists:
            raise RuleError(f"{src}: list {name} is defined twice; rename one")
        rs.lists[name] = [str(i) for i in items]
    for name, cond in (doc.get("macros") or {}).items():
        if name in rs.macros:
            raise RuleError(f"{src}: macro {name} is defined twice; rename one")
        rs.macros[name] = cond
    for i, raw in enumerate(doc.get("rules") or []):
        where = f"{src}: rules[{i}]"
        if not isinstance(raw, dict):
            raise RuleError(f"{where}: each rule is a mapping")
        _keys(raw, set(RULE_KEYS), where)
        missing = [k for k, req in RULE_KEYS.items() if req and k not in raw]
        if missing:
            raise RuleError(f"{where} ({raw.get('id', '?')}): missing {', '.join(missing)}")
        rid = str(raw["id"])
        where = f"{src}: rule {rid}"
        if not _ID.match(rid):
            raise RuleError(f"{where}: id must look like NBW123 (family digit first, never renamed)")
        if rid in seen:
            raise RuleError(f"{where}: id already used in {seen[rid]}; ids are unique and stable")
        seen[rid] = str(src)
        for key, allowed in (("category", CATEGORIES), ("severity", SEVERITIES), ("maturity", MATURITIES)):
            if raw[key] not in allowed:
                raise RuleError(f"{where}: {key} {raw[key]!r} is not one of {', '.join(allowed)}")
        conf = raw["confidence"]
        if not isinstance(conf, (int, float)) or not 0 < conf <= 1:
            raise RuleError(f"{where}: confidence must be a number in (0, 1], e.g. 0.8")
        refs = raw.get("references") or []
        if not isinstance(refs, list):
            raise RuleError(f"{where}: references must be a list of links or citations")
        rs.rules.append(Rule(rid, str(raw["title"]), raw["category"], raw["severity"], float(conf),
                             raw["maturity"], str(raw["description"]).strip(), str(raw["explanation"]).strip(),
                             str(raw["evasions"]).strip(), str(raw["false_positives"]).strip(),
                             [str(r) for r in refs], raw["when"], raw.get("unless"), pack, str(src)))


def _keys(d: dict, allowed: set[str], where: str) -> None:
    extra = set(d) - allowed
    if extra:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}; allowed: "
                        f"{', '.join(sorted(allowed))}")


def _check_condition(rs: RuleSet, cond, where: str) -> None:
    if not isinstance(cond, dict) or not cond:
        raise RuleError(f"{where}: a condition is a mapping such as {{all: [...]}} or {{import: [name]}}")
    keys = set(cond)
    ops = keys & OPERATORS
    if ops:
        if keys - OPERATORS:
            raise RuleError(f"{where}: do not mix operators ({', '.join(sorted(ops))}) with fact kinds "
                            f"({', '.join(sorted(keys - OPERATORS))}); wrap the match in all/any")
        if "at_least" in keys or "of" in keys:
            if keys != {"at_least", "of"} or not isinstance(cond["at_least"], int) or not isinstance(cond["of"], list):
                raise RuleError(f"{where}: write at_least: N together with of: [conditions]")
            for j, c in enumerate(cond["of"]):
                _check_condition(rs, c, f"{where}.of[{j}]")
            return
        if len(keys) != 1:
            raise RuleError(f"{where}: one operator per mapping; nest them instead")
        op = next(iter(keys))
        if op in ("all", "any"):
            if not isinstance(cond[op], list) or not cond[op]:
                raise RuleError(f"{where}: {op} takes a non-empty list of conditions")
            for j, c in enumerate(cond[op]):
                _check_condition(rs, c, f"{where}.{op}[{j}]")
        elif op == "not":
            _check_condition(rs, cond[op], f"{where}.not")
        elif op == "macro":
            if cond[op] not in rs.macros:
                raise RuleError(f"{where}: no macro named {cond[op]!r}; define it under macros:")
        return
    for kind, pats in cond.items():
        if kind not in FACT_KINDS:
            raise RuleError(f"{where}: {kind!r} is neither an operator ({', '.join(sorted(OPERATORS))}) nor a "
                            f"fact kind ({', '.join(FACT_KINDS)})")
        for mode, items in _modes(kind, pats, where):
            expand(rs, items, where)  # unknown $lists are reported here; regexes are checked by the matcher


def _modes(kind: str, pats, where: str):
    if isinstance(pats, list):
        return [(DEFAULT_MODE.get(kind, "word"), pats)]
    if isinstance(pats, dict):
        bad = set(pats) - set(MODES)
        if bad:
            raise RuleError(f"{where}: {kind}: unknown mode(s) {', '.join(sorted(bad))}; use {', '.join(MODES)}")
        for m, items in pats.items():
            if not isinstance(items, list):
                raise RuleError(f"{where}: {kind}: {m} takes a list")
        return list(pats.items())
    raise RuleError(f"{where}: {kind}: give a list of patterns or a mapping mode -> list")


def expand(rs: RuleSet, items: list, where: str) -> list[str]:
    out = []
    for it in items:
        s = str(it)
        if s.startswith("$"):
            if s[1:] not in rs.lists:
                raise RuleError(f"{where}: no list named {s[1:]!r}; define it under lists:")
            out.extend(rs.lists[s[1:]])
        else:
            out.append(s)
    return out


modes_of = _modes
