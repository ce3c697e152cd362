"""Start-up of `nbwarden scan` on one small file (beside `python -c pass`), and peak memory
of a scan of a 150 MB notebook and a 150 MB Python file (max RSS of the child process).

    python bench/bench_startup_memory.py
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd) -> tuple[float, int]:
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    return time.perf_counter() - t, usage.ru_maxrss * 1024


def main():
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        small = os.path.join(d, "small.py")
        with open(small, "w") as f:
            f.write("import numpy as np\nx = np.arange(10)\n")
        base = statistics.median(run([py, "-c", "pass"])[0] for _ in range(10))
        ours = statistics.median(run([py, "-m", "nbwarden", "scan", small])[0] for _ in range(10))
        print("| start-up | median of 10 |\n|---|---|")
        print(f"| python -c pass (floor) | {base * 1e3:.0f} ms |")
        print(f"| nbwarden scan small.py | {ours * 1e3:.0f} ms (target < 300 ms) |")
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
            secs, rss = run([py, "-m", "nbwarden", "scan", p])
            print(f"| {os.path.basename(p)} | {os.path.getsize(p) / 1e6:.0f} MB | {secs:.1f} s | {rss / 1e6:.0f} MB (target < 2,000 MB) |")


if __name__ == "__main__":
    main()
