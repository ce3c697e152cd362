"""Batch scan throughput on one core, beside the parse floor measured in the same run.

floor = json.loads of each notebook + ast.parse of each code cell (what any scanner that
reads the code must at least do). ours = Engine.scan_bytes of the same bytes. Files are read
into memory first and start-up is excluded. CPU time (process_time), fastest of --passes
passes, floor and ours alternating: the machine may be shared, and CPU time still grows
when another process competes for the core's caches.

    python bench/bench_scan.py [FOLDER] [--passes 5]
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _corpus  # noqa: E402

from nbwarden.engine import Engine  # noqa: E402


def floor(files):
    for _, data in files:
        try:
            nb = json.loads(data)
        except ValueError:
            continue
        for c in nb.get("cells", []) if isinstance(nb, dict) else []:
            if isinstance(c, dict) and c.get("cell_type") == "code":
                s = c.get("source", "")
                try:
                    ast.parse("".join(s) if isinstance(s, list) else s)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    pass


def ours(engine, files):
    for name, data in files:
        engine.scan_bytes(data, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--passes", type=int, default=5)
    a = ap.parse_args()
    files = _corpus.load(a.folder)
    mb = sum(len(d) for _, d in files) / 1e6
    cells = sum(len(_corpus.code_cells(d)) for _, d in files)
    engine = Engine.default()
    warnings.simplefilter("ignore")
    stages = {"floor (json.loads + ast.parse)": lambda: floor(files), "nbwarden scan": lambda: ours(engine, files)}
    times: dict[str, list[float]] = {label: [] for label in stages}
    for fn in stages.values():
        fn()  # warm
    for _ in range(a.passes):
        for label, fn in stages.items():
            t = time.process_time()
            fn()
            times[label].append(time.process_time() - t)
    res = {label: min(ts) for label, ts in times.items()}
    print(f"{len(files)} notebooks, {mb:.1f} MB, {cells} code cells ({a.folder or 'synthetic'}); one core, CPU time, fastest of {a.passes}")
    print("| stage | notebooks/s | MB/s | cells/s |\n|---|---|---|---|")
    for label, t in res.items():
        print(f"| {label} | {len(files) / t:,.0f} | {mb / t:,.1f} | {cells / t:,.0f} |")
    f, o = res["floor (json.loads + ast.parse)"], res["nbwarden scan"]
    print(f"nbwarden / floor time: {o / f:.2f}x (target <= 3x, aim 2x)")


if __name__ == "__main__":
    main()
