"""Rules compiled for speed: every pattern of every rule, grouped by fact kind, goes into one
RE2 set per kind. Matching a unit costs one set match per fact kind over the kind's joined
values (linear time, whatever the input); only when that hits are the facts that hit found,
by matching halves of the joined values again. Python's ``re`` never sees rule patterns: an
alternation of hundreds of them would be both slow and open to catastrophic backtracking.
"""
from __future__ import annotations

import threading
from collections import defaultdict

import re2

from .model import Fact, utf8_text
from .ruleset import Rule, RuleError, RuleSet, expand, modes_of

_WORD_L, _WORD_R = r"(?:^|[^a-z0-9])", r"(?:$|[^a-z0-9])"


def pattern_regex(mode: str, item: str) -> str:
    if mode == "regex":
        return f"(?im){item}"
    e = re2.escape(item)
    if mode == "exact":
        body = f"^{e}$"
    elif mode == "word":
        body = f"{_WORD_L}{e}{_WORD_R}"
    elif mode == "contains":
        body = e
    elif mode == "prefix":
        body = f"^{e}"
    elif mode == "suffix":
        body = f"(?:^|[^a-z0-9_]){e}$" if not item.startswith((".", "-", "/", ":")) else f"{e}$"
    elif mode == "module":
        body = f"^{e}(?:\\.|$)"
    else:
        raise KeyError(mode)
    return f"(?im){body}"


class Matcher:
    def __init__(self, rs: RuleSet):
        self.rules = rs.rules
        self._patterns: dict[str, list[str]] = defaultdict(list)  # kind -> regex sources
        self._pattern_ids: dict[tuple[str, str], int] = {}
        self._pattern_leaves: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._leaf_count = 0
        self._macro_trees: dict[str, tuple] = {}
        self._rs = rs
        self._where: dict[tuple[str, str], tuple[str, str]] = {}  # pattern -> (rule, item), for errors
        self.compiled: list[tuple[Rule, tuple, tuple | None, frozenset[int]]] = []
        for rule in rs.rules:
            when = self._compile(rule.when, rule.id)
            unless = self._compile(rule.unless, rule.id) if rule.unless else None
            self.compiled.append((rule, when, unless, frozenset(_leaves(when))))
        self._leaf_rules: dict[int, list[int]] = defaultdict(list)
        for i, (_, when, _, leaves) in enumerate(self.compiled):
            for leaf in leaves:
                self._leaf_rules[leaf].append(i)
        opts = re2.Options()
        opts.max_mem = 256 << 20
        self._sets: dict[str, re2.Set] = {}  # kind -> compiled set
        self._added: dict[str, re2.Set] = {}  # kind -> set with every pattern added (so checked), compiled on first use
        self._lock = threading.Lock()
        for kind, pats in self._patterns.items():
            s = re2.Set.SearchSet(opts)
            for p in pats:
                try:
                    s.Add(p)
                except re2.error as e:
                    where, item = self._where[(kind, p)]
                    raise RuleError(f"{where}: {kind}: regex {item!r} is not valid RE2: {e}") from None
            self._added[kind] = s

    def _set(self, kind: str) -> re2.Set | None:
        """The kind's compiled set. Sets are compiled when a fact of their kind first turns
        up: a scan of one small file needs two or three of the thirteen, and compiling them
        all is a third of the rules' start-up cost."""
        s = self._sets.get(kind)
        if s is None and kind in self._added:
            with self._lock:  # a set is compiled once, whichever thread asks first
                s = self._sets.get(kind)
                if s is None:
                    s = self._added[kind]
                    try:
                        s.Compile()
                    except re2.error as e:
                        raise RuleError(f"the {kind} patterns of all rule packs together do not compile: {e}") from None
                    self._sets[kind] = s
        return s

    def compile_all(self) -> "Matcher":
        """Compile every set now (``nbwarden rules lint``, and servers that want no first-use
        pause)."""
        for kind in self._added:
            self._set(kind)
        return self

    # -- compile ------------------------------------------------------------------------
    def _compile(self, cond: dict, where: str) -> tuple:
        keys = set(cond)
        if "macro" in keys:
            name = cond["macro"]
            if name not in self._macro_trees:
                self._macro_trees[name] = ("pending",)
                self._macro_trees[name] = self._compile(self._rs.macros[name], f"macro {name}")
            elif self._macro_trees[name] == ("pending",):
                raise ValueError(f"macro {name} refers to itself")
            return self._macro_trees[name]
        if "all" in keys:
            return ("all", [self._compile(c, where) for c in cond["all"]])
        if "any" in keys:
            return ("any", [self._compile(c, where) for c in cond["any"]])
        if "not" in keys:
            return ("not", self._compile(cond["not"], where))
        if "at_least" in keys:
            return ("at_least", cond["at_least"], [self._compile(c, where) for c in cond["of"]])
        leaf = self._leaf_count
        self._leaf_count += 1
        for kind, pats in cond.items():
            for mode, items in modes_of(kind, pats, where):
                for item in expand(self._rs, items, where):
                    src = pattern_regex(mode, item)
                    key = (kind, src)
                    pid = self._pattern_ids.get(key)
                    if pid is None:
                        pid = self._pattern_ids[key] = len(self._patterns[kind])
                        self._patterns[kind].append(src)
                        self._where[key] = (where, item)
                    self._pattern_leaves[(kind, pid)].append(leaf)
        return ("leaf", leaf)

    # -- match --------------------------------------------------------------------------
    def hits(self, facts: list[Fact]) -> dict[int, list[Fact]]:
        """leaf id -> the facts that satisfy it."""
        by_kind: dict[str, list[Fact]] = defaultdict(list)
        for f in facts:
            by_kind[f.kind].append(f)
        out: dict[int, list[Fact]] = defaultdict(list)
        for kind, fs in by_kind.items():
            s = self._sets.get(kind) or self._set(kind)
            if s is None:
                continue
            values = [f.value.replace("\n", " ") if "\n" in f.value else f.value for f in fs]
            try:
                found = s.Match("\n".join(values) if len(values) > 1 else values[0])
            except UnicodeEncodeError:  # a lone surrogate ("\ud800" in a literal): RE2 takes UTF-8 only
                values = [utf8_text(v) for v in values]
                found = s.Match("\n".join(values) if len(values) > 1 else values[0])
            if not found:
                continue
            if len(fs) == 1:
                matched = {0: found}
            else:
                matched = {}
                _locate(s, values, 0, len(values), matched)
            leaves_of = self._pattern_leaves
            for pid in found:  # pattern, then fact order: the order evidence is listed in
                leaves = leaves_of[(kind, pid)]
                for i, pids in matched.items():
                    if pid in pids:
                        for leaf in leaves:
                            out[leaf].append(fs[i])
        return out

    def evaluate(self, hits: dict[int, list[Fact]]) -> list[tuple[Rule, list[Fact]]]:
        """Rules that hold on these hits, with the facts that made them hold."""
        candidates = sorted({r for leaf in hits for r in self._leaf_rules.get(leaf, ())})
        out = []
        for i in candidates:
            rule, when, unless, _ = self.compiled[i]
            ev = _eval(when, hits)
            if ev is None:
                continue
            if unless is not None and _eval(unless, hits) is not None:
                continue
            out.append((rule, ev))
        return out


def _locate(s, values: list[str], lo: int, hi: int, out: dict[int, list[int]]) -> None:
    """Which of ``values[lo:hi]`` (whose joined text matched) match on their own, and the
    patterns each matches: halves are matched again, so a cell with many facts of a kind
    and one hit costs a few set matches, not one regex search per pattern and fact; a few
    values are matched one by one. Every answer comes from matching one value alone; a
    match across the joint of two values (a regex with ``\\s``) makes no hit, as it never
    did."""
    if hi - lo <= 4:
        for i in range(lo, hi):
            found = s.Match(values[i])
            if found:
                out[i] = found
        return
    mid = (lo + hi) // 2
    for a, b in ((lo, mid), (mid, hi)):
        if s.Match("\n".join(values[a:b])):
            _locate(s, values, a, b, out)


def _eval(node: tuple, hits) -> list[Fact] | None:
    op = node[0]
    if op == "leaf":
        return hits.get(node[1]) or None
    if op == "all":
        ev = []
        for c in node[1]:
            r = _eval(c, hits)
            if r is None:
                return None
            ev.extend(r)
        return ev
    if op == "any":
        ev, ok = [], False
        for c in node[1]:
            r = _eval(c, hits)
            if r is not None:
                ok = True
                ev.extend(r)
        return ev if ok else None
    if op == "not":
        return None if _eval(node[1], hits) is not None else []
    if op == "at_least":
        ev, n = [], 0
        for c in node[2]:
            r = _eval(c, hits)
            if r is not None:
                n += 1
                ev.extend(r)
        return ev if n >= node[1] else None
    raise ValueError(op)


def _leaves(node: tuple):
    op = node[0]
    if op == "leaf":
        yield node[1]
    elif op in ("all", "any"):
        for c in node[1]:
            yield from _leaves(c)
    elif op == "at_least":
        for c in node[2]:
            yield from _leaves(c)
    # leaves under "not" never make a rule hold, so they do not make it a candidate
