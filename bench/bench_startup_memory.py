"""Start-up of `nbwarden scan` on one small file (beside `python -c pass`), and peak memory
of a scan of a 150 MB notebook and a 150 MB Python file (max RSS of the child process).

Start-up is timed as an installed nbwarden starts: with its modules' bytecode cached (pip
compiles it at install). PYTHONDONTWRITEBYTECODE is dropped for the children and one
untimed run writes the cache. Wall time is what a user waits; CPU time (user + system of
the child) is the figure that holds when other work shares the machine.

    python bench/bench_startup_memory.py [--startup-only] [--runs 10] [--compare OLD_SRC]

--compare times the same scan with PYTHONPATH=OLD_SRC too (say an older commit's ``src``
from ``git archive``), its runs interleaved with ours so both see the same machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd, env=None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one child run."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execve(cmd[0], cmd, env or ENV)
    _, status, usage = os.wait4(pid, 0)
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--startup-only", action="store_true")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--compare", metavar="OLD_SRC")
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        small = os.path.join(d, "small.py")
        with open(small, "w") as f:
            f.write("import numpy as np\nx = np.arange(10)\n")
        scan = [py, "-m", "nbwarden", "scan", small]
        variants = {"python -c pass (floor)": ([py, "-c", "pass"], None), "nbwarden scan small.py": (scan, None)}
        if a.compare:
            variants[f"nbwarden scan small.py, {a.compare}"] = (scan, dict(ENV, PYTHONPATH=a.compare))
        for cmd, env in variants.values():
            run(cmd, env)  # writes the bytecode cache, as an install does
        runs: dict[str, list] = {label: [] for label in variants}
        for _ in range(a.runs):
            for label, (cmd, env) in variants.items():
                runs[label].append(run(cmd, env))
        print(f"| start-up, {a.runs} runs | wall, median | CPU, median | CPU, fastest |\n|---|---|---|---|")
        for label, rs in runs.items():
            wall, cpu = (statistics.median(r[i] for r in rs) for i in (0, 1))
            print(f"| {label} | {wall * 1e3:.0f} ms | {cpu * 1e3:.0f} ms | {min(r[1] for r in rs) * 1e3:.0f} ms |")
        print("target: nbwarden scan < 300 ms")
        if a.startup_only:
            return
        big_nb = os.path.join(d, "big.ipynb")
        cell = {"cell_type": "code", "metadata": {}, "outputs": [],
                "source": "import torch\nx = torch.randn(64, 64)\n" * 40 + "s = '" + "A" * 2000 + "'\n"}
        n = 150_000_000 // len(json.dumps(cell))
        with open(big_nb, "w") as f:
            json.dump({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell] * n}, f)
        big_py = os.path.join(d, "big.py")
        with open(big_py, "w") as f:
            line = "x = compute(a, b, 'some string literal here')  # comment\n"
            f.write(line * (150_000_000 // len(line)))
        print("\n| input | size | time | peak RSS |\n|---|---|---|---|")
        for p in (big_nb, big_py):
            secs, _, rss = run([py, "-m", "nbwarden", "scan", p])
            print(f"| {os.path.basename(p)} | {os.path.getsize(p) / 1e6:.0f} MB | {secs:.1f} s | {rss / 1e6:.0f} MB (target < 2,000 MB) |")


if __name__ == "__main__":
    main()
