"""The engine: code, commands and files in; findings with evidence out. Pure and fast: it
reads only what it is given (``scan_path`` reads that one file) and never runs anything.

    engine = Engine.default()
    engine.scan_path("notebook.ipynb")            # a whole file -> Report
    ctx = engine.new_context()                    # a kernel session's memory
    engine.check_cell(code, ctx)                  # one cell, earlier cells remembered
    engine.check_command("xmrig -o stratum+tcp://pool:3333")   # a process's command line

Every public call returns a ``Report``; bad input becomes ``Report.error``, never a raised
exception, so one broken file never stops a batch.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import ruleset
from .extract import Collector, ShellState
from .matcher import Matcher
from .model import PYTHON, SHELL, Fact, Finding, Report, Unit, categories_of
from .readers import ReadError, read_units

SEEN_CELLS = 128  # cells per session whose rule hits are kept for when they run again
DEFAULT_THRESHOLD = 0.5  # a category at or above this confidence makes the verdict "flag"
HIDDEN_BONUS = 0.1  # hiding what code does is itself a signal; added to a finding's confidence
MAX_FILE_BYTES = 512 << 20
_WAIVER = re.compile(r"#\s*nbwarden:\s*allow\s+((?:NBW\d+[\s,]*)+)(?:--\s*(.*))?", re.I)


@dataclass
class CellContext:
    """What earlier cells of one kernel session showed: the facts that matched any rule
    pattern (others cannot matter later), waivers in force, the shell's variables and
    executable files, and the import aliases in force."""

    hits: dict[int, list[Fact]] = field(default_factory=dict)
    waivers: dict[str, str] = field(default_factory=dict)
    #: replaced, never changed in place, by each remembered cell that changes it
    shell: ShellState = field(default_factory=ShellState)
    #: name -> module path of the session's imports (``s`` -> ``subprocess``); replaced, never
    #: changed in place, by each remembered cell that imports something new
    aliases: dict[str, str] = field(default_factory=dict)
    #: name -> the expression last assigned to it by a remembered cell (``tool = "./xm" + "rig"``
    #: in cell 2 folds ``!{tool} ...`` in cell 6, as a scan of the notebook does); replaced,
    #: never changed in place; values a fold cannot use are not kept (``Collector.session_writes``)
    names: dict = field(default_factory=dict)
    cells: int = 0
    #: the notebook the session's cells come from, named as a scan of that file would name it
    #: (rules weigh where code lives, e.g. inside a detection benchmark's repository); set by
    #: whoever knows it (the Jupyter server, from the kernel's session), None when unknown
    location: str | None = None
    #: (language, code) -> what checking it showed, for cells run again (a server checks a
    #: cell before it is sent and when it runs; users re-run cells). Not rolled back: an entry
    #: says what some code shows from a given state, so it is true whether or not the code ran.
    seen: OrderedDict[tuple[str, str], "_Seen"] = field(default_factory=OrderedDict)

    def remember(self, hits: dict[int, list[Fact]], waivers: dict[str, str], shell: ShellState | None = None,
                 aliases: dict[str, str] | None = None, names: dict | None = None) -> None:
        for leaf, facts in hits.items():
            kept = self.hits.setdefault(leaf, [])
            if len(kept) < 64:  # bound memory on sessions that run a cell thousands of times
                kept.extend(facts[: 64 - len(kept)])
        self.waivers.update(waivers)
        if shell is not None:
            self.shell = shell
        if aliases is not None:
            self.aliases = aliases
        if names is not None:
            self.names = names
        self.cells += 1

    def checkpoint(self) -> tuple:
        """A mark to roll back to when a checked cell is refused and must be forgotten.
        ``remember`` only extends lists, adds keys and replaces the shell state, aliases and
        names, so lengths and references suffice: no copy of the remembered facts on every cell."""
        return ({leaf: len(facts) for leaf, facts in self.hits.items()}, dict(self.waivers), self.shell,
                self.aliases, self.names, self.cells)

    def rollback(self, mark: tuple) -> None:
        lengths, waivers, shell, aliases, names, cells = mark
        for leaf in [leaf for leaf in self.hits if leaf not in lengths]:
            del self.hits[leaf]
        for leaf, n in lengths.items():
            del self.hits[leaf][n:]
        self.waivers, self.shell, self.aliases, self.names, self.cells = waivers, shell, aliases, names, cells


class _Seen(NamedTuple):
    """What checking some code showed, kept so that running it again replays it."""
    hits: dict[int, list[Fact]]  # the code's own rule hits
    #: the shell state they were found against and the state after; both None for code with
    #: no shell command, whose facts cannot depend on the session's shell
    shell_before: ShellState | None
    shell_after: ShellState | None
    #: the session aliases the code could resolve (those its text names), and the aliases it adds
    alias_reads: tuple[tuple[str, str], ...]
    alias_writes: dict[str, str]
    #: the session names its walk asked for and does not assign itself, each with the value it
    #: had then (None: unset), and the names it assigns that a fold can use
    name_reads: tuple[tuple[str, object], ...]
    name_writes: dict


class Engine:
    def __init__(self, rules: ruleset.RuleSet, threshold: float = DEFAULT_THRESHOLD):
        self.rules = rules
        self.matcher = Matcher(rules)
        self.threshold = threshold

    @classmethod
    def default(cls, extra_rules: tuple[str, ...] = ()) -> "Engine":
        return _default_engine(tuple(str(x) for x in extra_rules))

    # -- files --------------------------------------------------------------------------
    def scan_path(self, path: str | os.PathLike, *, display: str | None = None) -> Report:
        name = display or str(path)
        p = Path(path)
        try:
            if p.is_symlink() and not p.exists():
                return Report(name, error="broken symbolic link")
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                return Report(name, error=f"file too large ({size >> 20} MiB; limit {MAX_FILE_BYTES >> 20} MiB)")
            data = p.read_bytes()
        except IsADirectoryError:
            return Report(name, error="is a directory")
        except PermissionError:
            return Report(name, error="permission denied")
        except OSError as e:
            return Report(name, error=f"cannot read: {e.strerror or e}")
        return self.scan_bytes(data, name, filename=p.name)

    def scan_bytes(self, data: bytes, name: str, *, filename: str | None = None) -> Report:
        try:
            units = read_units(data, filename or name)
        except ReadError as e:
            return Report(name, error=str(e))
        except (RecursionError, MemoryError) as e:
            return Report(name, error=f"input too deeply nested or too large to read ({type(e).__name__})")
        except Exception as e:  # noqa: BLE001 -- as in scan_units: one file, not the batch
            return Report(name, error=f"internal error while reading this file ({type(e).__name__}); "
                                      "please report it with the file")
        return self.scan_units(units, name)

    def scan_units(self, units: list[Unit], name: str) -> Report:
        try:
            col = Collector()
            for u in units:
                col.run(u)
            if units and not name.startswith("<"):
                # context for near misses: a file vendored inside a detection benchmark's
                # repository is read knowing where it lives (rules decide how much that counts)
                col.fact("location", _location(name), units[0], units[0].line, always=True)
            hits = self.matcher.hits(col.facts)
            waivers = _waivers(units)
            findings = self._findings(hits, waivers, name)
        except (RecursionError, MemoryError) as e:
            return Report(name, error=f"code too deeply nested or too large to analyse ({type(e).__name__})")
        except Exception as e:  # noqa: BLE001 -- a bug of ours must cost one file, not the batch
            return Report(name, error=f"internal error while analysing this file ({type(e).__name__}); "
                                      "please report it with the file")
        return self._report(name, findings, len(units))

    # -- cells and commands -------------------------------------------------------------
    def new_context(self, location: str | None = None) -> CellContext:
        """A kernel session's memory; ``location``: the notebook's path, when known."""
        return CellContext(location=location)

    def check_cell(self, code: str, context: CellContext | None = None, *, cell: int | None = None,
                   remember: bool = True, name: str = "<cell>", lang: str = PYTHON) -> Report:
        """Findings this cell takes part in, read together with what earlier cells of the
        session did (a download in cell 3, the run in cell 7). Findings made only of
        earlier cells' evidence are not repeated."""
        ctx = context if context is not None else CellContext()
        unit = Unit(code, lang, cell=cell if cell is not None else ctx.cells)
        try:
            new_hits, shell, aliases, names = self._cell_hits(unit, ctx)
            waivers = _waivers([unit])
            findings = []
            if new_hits:  # a finding must include this cell's evidence: no new hit, no finding
                merged = dict(ctx.hits)  # only the leaves this cell hit get new lists
                for leaf, facts in new_hits.items():
                    merged[leaf] = ctx.hits.get(leaf, []) + facts
                if ctx.location:  # where the notebook lives, as its scan would see it: context, not evidence
                    for leaf, facts in self.matcher.hits([Fact("location", _location(ctx.location), unit,
                                                               unit.line)]).items():
                        merged[leaf] = merged.get(leaf, []) + facts
                new_ids = {id(f) for fs in new_hits.values() for f in fs}
                findings = self._findings(merged, {**ctx.waivers, **waivers}, name, new_ids)
        except (RecursionError, MemoryError) as e:
            return Report(name, error=f"code too deeply nested or too large to analyse ({type(e).__name__})")
        except Exception as e:  # noqa: BLE001 -- the caller's fail-open/closed setting decides, not a crash
            return Report(name, error=f"internal error while analysing this cell ({type(e).__name__})")
        if remember:
            ctx.remember(new_hits, waivers, shell, aliases, names)
        return self._report(name, findings, 1)

    def _cell_hits(self, unit: Unit, ctx: CellContext):
        """The rule hits of one cell's own facts, and the shell state, aliases and names after
        it (the session's own objects when the cell changes none); for code this session has
        seen, replayed from ``ctx.seen`` as fresh facts of this cell instead of parsed and
        matched again. Code with shell commands reads and writes the session's shell state,
        so it is replayed only when that state is the very one it was checked against (states
        are never changed in place: the same object is the same state); code that names a
        session alias only when that alias still means what it meant, and code that read a
        session variable only while it holds the same expression."""
        key = (unit.lang, unit.code)
        seen = ctx.seen.get(key)
        if seen is not None and (seen.shell_before is None or seen.shell_before is ctx.shell) \
                and _alias_reads(ctx.aliases, unit.code, seen.alias_writes) == seen.alias_reads \
                and all(ctx.names.get(k) is v for k, v in seen.name_reads):
            ctx.seen.move_to_end(key)
            after = seen.shell_after
            return (_replay(seen.hits, unit.cell), ctx.shell if after is None else after,
                    _with_aliases(ctx.aliases, seen.alias_writes), _with_names(ctx.names, seen.name_writes))
        col = Collector(ctx.shell, ctx.aliases, ctx.names)  # copies the state before changing it
        col.run(unit)
        hits = self.matcher.hits(col.facts)
        writes = {k: v for k, v in col.aliases.items() if ctx.aliases.get(k) != v}
        shell = (ctx.shell, col.shell_state) if col.used_shell_state else (None, None)
        name_writes = col.session_writes()
        name_reads = tuple((k, ctx.names.get(k)) for k in col.session_reads())
        ctx.seen[key] = _Seen(dict(hits), *shell, _alias_reads(ctx.aliases, unit.code, writes), writes,
                              name_reads, name_writes)
        if len(ctx.seen) > SEEN_CELLS:
            ctx.seen.popitem(last=False)
        return hits, col.shell_state, _with_aliases(ctx.aliases, writes), _with_names(ctx.names, name_writes)

    def check_command(self, cmdline: str | list[str], *, name: str = "<process>") -> Report:
        """A process's command line: a string as a shell would read it, or argv exactly as
        the kernel reports it (/proc/PID/cmdline), which is never re-split."""
        if isinstance(cmdline, str):
            return self.scan_units([Unit(cmdline, SHELL)], name)
        argv = [str(a) for a in cmdline if a is not None]
        if not argv:
            return Report(name)
        unit = Unit(" ".join(a.replace("\n", " ") for a in argv), SHELL)
        try:
            col = Collector()
            col.argv(argv, unit)
            findings = self._findings(self.matcher.hits(col.facts), {}, name)
        except (RecursionError, MemoryError) as e:
            return Report(name, error=f"command too large to analyse ({type(e).__name__})")
        return self._report(name, findings, 1)

    # -- internals ------------------------------------------------------------------------
    def _findings(self, hits, waivers: dict[str, str], file: str | None, must_include: set[int] | None = None):
        out = []
        for rule, facts in self.matcher.evaluate(hits):
            if must_include is not None and not any(id(f) in must_include for f in facts):
                continue
            seen, shown, hidden = set(), [], False
            for f in facts:
                key = (f.unit.cell, f.line, f.kind, f.value)
                if key not in seen:
                    seen.add(key)
                    hidden = hidden or bool(f.unit.hidden)
                    if len(shown) < 20:  # evidence is made for what a finding shows, not every fact
                        shown.append(f)
            conf = rule.confidence
            if hidden:
                conf = min(0.99, conf + HIDDEN_BONUS)
            out.append(Finding(rule.id, rule.category, conf, rule.severity, rule.title, rule.explanation,
                               [f.evidence(file) for f in shown], waived=waivers.get(rule.id)))
        out.sort(key=lambda f: (-f.confidence, f.rule_id))
        return out

    def _report(self, name: str, findings: list[Finding], units: int) -> Report:
        verdict = "flag" if any(c.confidence >= self.threshold for c in categories_of(findings)) else "allow"
        return Report(name, findings, verdict=verdict, units=units)


def _alias_reads(aliases: dict[str, str], code: str, own: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The session aliases that could change what ``code`` resolves: those that rename
    (``np`` -> ``numpy``; ``os`` -> ``os`` changes nothing), that its text names, and that it
    does not bind itself (``own``: a cell that imports ``np`` reads its own, so running it
    again after it set the session's ``np`` is still a replay)."""
    return tuple((k, v) for k, v in aliases.items() if k != v and k not in own and k in code) if aliases else ()


def _with_aliases(aliases: dict[str, str], writes: dict[str, str]) -> dict[str, str]:
    """The session's aliases after a cell that adds ``writes``: the same object when it adds
    nothing new, so that states compare by identity."""
    if not writes or all(aliases.get(k) == v for k, v in writes.items()):
        return aliases
    return {**aliases, **writes}


MAX_SESSION_NAMES = 2048  # variables a session remembers; the oldest assigned go first


def _with_names(names: dict, writes: dict) -> dict:
    """The session's names after a cell that assigns ``writes`` (its collector's
    ``session_writes``): the same object when that changes nothing (a cell run again), else a
    new dict, last assigned last, at most MAX_SESSION_NAMES long."""
    if not writes or all(names.get(k) is v for k, v in writes.items()):
        return names
    out = {k: v for k, v in names.items() if k not in writes}
    out.update(writes)
    while len(out) > MAX_SESSION_NAMES:
        del out[next(iter(out))]
    return out


def _replay(hits: dict[int, list[Fact]], cell: int | None) -> dict[int, list[Fact]]:
    """Copies of remembered hits as facts of cell ``cell``: new objects, so that findings
    tell this run's evidence from the earlier run's, exactly as a fresh check would."""
    units: dict[int, Unit] = {}
    facts: dict[int, Fact] = {}
    out = {}
    for leaf, fs in hits.items():
        new = []
        for f in fs:
            c = facts.get(id(f))
            if c is None:
                u = units.get(id(f.unit))
                if u is None:
                    o = f.unit
                    u = units[id(o)] = Unit(o.code, o.lang, cell, o.line, o.hidden, o.how, o.origin)
                c = facts[id(f)] = Fact(f.kind, f.value, u, f.line)
            new.append(c)
        out[leaf] = new
    return out


def _location(path: str) -> str:
    """The ``location`` fact of a file or notebook path: the same for a scan and a session."""
    return path.replace(os.sep, "/")


def _waivers(units: list[Unit]) -> dict[str, str]:
    """Inline waivers: ``# nbwarden: allow NBW301 -- reason``. The policy decides whether
    they are honoured; the engine only reads them."""
    out: dict[str, str] = {}
    for u in units:
        if "nbwarden" not in u.code:
            continue
        for m in _WAIVER.finditer(u.code):
            reason = (m.group(2) or "").strip() or "no reason given"
            for rid in re.findall(r"NBW\d+", m.group(1), re.I):
                out[rid.upper()] = reason
    return out


@lru_cache(maxsize=8)
def _default_engine(extra: tuple[str, ...]) -> Engine:
    return Engine(ruleset.load(list(extra)))


__all__ = ["Engine", "CellContext", "Report", "Finding"]
