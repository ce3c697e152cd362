"""Batch scanning: paths in (files, folders, ``-`` for stdin), one Report per file out, in
order, on one or many cores. Folders are walked recursively, skipping ``.git`` and what an
ignore file names (``.nbwardenignore``: one glob per line, ``#`` comments)."""
from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from .engine import Engine
from .engine.model import Report
from .engine.readers import is_supported
from .policy import Policy

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", "node_modules", ".venv", ".tox"}
IGNORE_FILE = ".nbwardenignore"


def _ignore_patterns(root: Path, extra: Iterable[str]) -> list[str]:
    pats = list(extra)
    f = root / IGNORE_FILE
    if f.is_file():
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/"))
    return pats


def _ignored(rel: str, pats: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in pats)


def iter_targets(paths: Iterable[str], ignore: Iterable[str] = ()) -> Iterator[str]:
    """Files to scan, in a stable order. A path named explicitly is always scanned (an
    unknown type then gets a clear error); inside folders only known kinds are."""
    ignore = list(ignore)
    for p in paths:
        if p == "-":
            yield p
            continue
        path = Path(p)
        if not path.is_dir():
            yield p
            continue
        pats = _ignore_patterns(path, ignore)
        for dirpath, dirnames, filenames in os.walk(path, onerror=None, followlinks=False):
            rel_dir = os.path.relpath(dirpath, path)
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                                 and not _ignored(os.path.normpath(os.path.join(rel_dir, d)), pats))
            for fn in sorted(filenames):
                rel = os.path.normpath(os.path.join(rel_dir, fn))
                if is_supported(fn) and not _ignored(rel, pats):
                    yield os.path.join(dirpath, fn)


_worker: tuple[Engine, Policy | None, str | None] | None = None


def _init(extra_rules: tuple[str, ...], policy_path: str | None, tier: str | None) -> None:
    global _worker
    _worker = (Engine.default(extra_rules), Policy.load(policy_path), tier)


def _scan_one(path: str) -> Report:
    engine, policy, tier = _worker
    return scan_file(engine, policy, path, tier)


def scan_file(engine: Engine, policy: Policy | None, path: str, tier: str | None = None) -> Report:
    if path == "-":
        report = engine.scan_bytes(sys.stdin.buffer.read(), "-", filename="stdin")
    else:
        report = engine.scan_path(path)
    if policy is not None and report.error is None:
        decision = policy.decide(report, tier)
        report.verdict = "flag" if decision.action in ("warn", "block", "terminate") else "allow"
        report.action = decision.action
    return report


def scan_many(paths: Iterable[str], *, jobs: int = 1, extra_rules: tuple[str, ...] = (),
              policy_path: str | None = None, tier: str | None = None) -> Iterator[Report]:
    targets = iter_targets(paths)
    if jobs <= 1:
        _init(extra_rules, policy_path, tier)
        for t in targets:
            yield _scan_one(t)
        return
    from concurrent.futures import ProcessPoolExecutor  # 25 ms of imports a one-core scan does not need

    targets = list(targets)
    if "-" in targets:  # stdin belongs to this process
        _init(extra_rules, policy_path, tier)
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(extra_rules, policy_path, tier)) as ex:
        stdin_report = _scan_one("-") if "-" in targets else None
        others = [t for t in targets if t != "-"]
        results = ex.map(_scan_one, others, chunksize=max(1, min(32, len(others) // (jobs * 8) or 1)))
        for t in targets:
            yield stdin_report if t == "-" else next(results)
