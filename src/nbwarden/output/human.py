"""A readable report: flagged files with each finding's explanation and evidence lines;
colour on a terminal; a progress line on stderr for long scans; a summary at the end."""
from __future__ import annotations

import sys
import time

_C = {"red": "\033[31m", "yellow": "\033[33m", "green": "\033[32m", "dim": "\033[2m", "bold": "\033[1m",
      "reset": "\033[0m"}


class Writer:
    def __init__(self, stream, *, color: bool | None = None, verbose: bool = False, progress: bool | None = None, **_):
        self.stream = stream
        self.color = stream.isatty() if color is None else color
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.verbose = verbose
        self.n = self.flagged = self.errors = 0
        self.t0 = time.perf_counter()

    def c(self, name: str, text: str) -> str:
        return f"{_C[name]}{text}{_C['reset']}" if self.color else text

    def write(self, r) -> None:
        self.n += 1
        if self.progress and self.n % 25 == 0:
            sys.stderr.write(f"\r  scanned {self.n} files...")
            sys.stderr.flush()
        out = self.stream.write
        if r.error:
            self.errors += 1
            out(f"{self.c('yellow', 'error')}  {r.path}: {r.error}\n")
            return
        if r.verdict != "flag":
            if self.verbose:
                out(f"{self.c('green', 'ok')}     {r.path}\n")
            return
        self.flagged += 1
        cats = ", ".join(f"{c.id} ({c.confidence:.2f})" for c in r.categories)
        action = f" -> {r.action}" if r.action else ""
        out(f"{self.c('red', 'FLAG')}   {self.c('bold', r.path)}{action}\n       {cats}\n")
        for f in r.findings:
            waived = f" {self.c('dim', '[waived: ' + f.waived + ']')}" if f.waived else ""
            out(f"  {self.c('bold', f.rule_id)} {f.title} [{f.category}, {f.confidence:.2f}]{waived}\n")
            out(f"       {f.explanation}\n")
            shown = {}
            for e in f.evidence:  # one line per place, however many facts it gave
                shown.setdefault((e.cell, e.line, e.snippet), e)
            for e in list(shown.values())[:6]:
                where = f"cell {e.cell} " if e.cell is not None else ""
                hidden = self.c("yellow", f"\n         decoded ({e.how}): {e.decoded}") if e.deobfuscated else ""
                out(f"       {self.c('dim', f'{where}line {e.line}:')} {e.snippet}{hidden}\n")
            if len(shown) > 6:
                out(f"       {self.c('dim', f'... {len(shown) - 6} more places')}\n")
        out("\n")

    def close(self) -> None:
        if self.progress and self.n >= 25:
            sys.stderr.write("\r" + " " * 40 + "\r")
        secs = time.perf_counter() - self.t0
        self.stream.write(f"{self.n} files scanned in {secs:.2f} s: {self.flagged} flagged, {self.errors} errors\n")
