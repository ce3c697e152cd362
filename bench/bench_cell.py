"""One cell checked in-process, warm: latency percentiles for cells up to 4 KB, beside
ast.parse of the same cells (the floor), measured in the same run.

    python bench/bench_cell.py [FOLDER]
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _corpus  # noqa: E402

from nbwarden.engine import Engine  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--max-bytes", type=int, default=4096)
    a = ap.parse_args()
    cells = [c for _, d in _corpus.load(a.folder) for c in _corpus.code_cells(d) if 0 < len(c.encode()) <= a.max_bytes]
    engine = Engine.default()
    warnings.simplefilter("ignore")
    for c in cells:  # warm: a long-running server has seen many cells (RE2 builds its DFA states lazily)
        engine.check_cell(c)
    ours, base = [], []
    for c in cells:
        t = time.process_time()
        try:
            ast.parse(c)
        except (SyntaxError, ValueError):
            pass
        base.append(time.process_time() - t)
        ctx = engine.new_context()
        t = time.process_time()
        engine.check_cell(c, ctx)
        ours.append(time.process_time() - t)
    print(f"{len(cells)} code cells <= {a.max_bytes} bytes ({a.folder or 'synthetic'}), in-process, warm, CPU time (process_time: robust to other load on the machine)")
    print("| | p50 | p90 | p99 | max |\n|---|---|---|---|---|")
    for label, xs in (("ast.parse (floor)", base), ("nbwarden check_cell", ours)):
        print(f"| {label} | {pct(xs, 50) * 1e6:.0f} µs | {pct(xs, 90) * 1e6:.0f} µs | {pct(xs, 99) * 1e6:.0f} µs | {max(xs) * 1e3:.1f} ms |")
    print(f"p99 target < 500 µs: {'met' if pct(ours, 99) < 5e-4 else 'NOT met'}")


if __name__ == "__main__":
    main()
