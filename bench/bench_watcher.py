"""Watcher cost and detection latency, beside a floor measured in the same run.

    .venv/bin/python bench/bench_watcher.py [--procs 300] [--seconds 20]

1. Starts ``--procs`` idle children (sleep), then for ``--seconds`` each runs
   a) the floor: a loop that only sleeps at the 1 s poll interval, and
   b) the watcher loop at 1 s (scoped to this process's tree: the idle children),
   and prints the CPU each used (utime+stime from /proc/self/stat) as % of one core.
   Target: watcher < 0.5 % of one core.
2. Starts a miner-like process (a renamed copy of Python in /dev/shm with a miner's command
   line, holding a connection to a fake pool on 127.0.0.1 and burning CPU) and counts the
   polls until the watcher flags it. Target: within 2 polls. The same without the telltale
   command line (found through the hidden executable, CPU and the held connection) is
   printed too: it needs the CPU window (default 10 s) by design.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from nbwarden.policy import Policy
from nbwarden.watcher import WatchConfig, Watcher
from nbwarden.watcher.gpu import Gpu

TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    with open("/proc/self/stat") as fh:
        f = fh.read().rpartition(") ")[2].split()
    return (int(f[11]) + int(f[12])) / TCK


def floor(seconds: float, interval: float) -> float:
    """CPU % of one core used by a loop that only sleeps at the poll interval."""
    c0, t0 = cpu_seconds(), time.monotonic()
    nxt = t0
    while time.monotonic() - t0 < seconds:
        nxt += interval
        time.sleep(max(0.0, nxt - time.monotonic()))
    return 100 * (cpu_seconds() - c0) / (time.monotonic() - t0)


def watcher_loop(seconds: float, interval: float) -> tuple[float, float, Watcher]:
    w = Watcher(WatchConfig(interval=interval, roots=(os.getpid(),)), policy=Policy.load(), gpu=Gpu())
    c0 = cpu_seconds()
    w.tick()  # the first tick learns every process: reported apart
    first = cpu_seconds() - c0
    c0, t0 = cpu_seconds(), time.monotonic()
    w.run(duration=seconds)
    return 100 * (cpu_seconds() - c0) / (time.monotonic() - t0), first, w


class Pool:
    def __init__(self, port=0):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(8)
        self.port = self.s.getsockname()[1]
        self.held = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                self.held.append(self.s.accept()[0])
            except OSError:
                return


def latency(exe: str, argv_tail: list[str], interval: float, max_polls: int = 40) -> tuple[int | None, float]:
    """(polls from the process's start until the watcher flags it, or None when not within
    max_polls; the CPU % of one core the watcher measured for it)."""
    w = Watcher(WatchConfig(interval=interval, roots=(os.getpid(),)), policy=Policy.load(), gpu=Gpu())
    w.tick()
    p = subprocess.Popen([exe, *argv_tail], env=dict(os.environ, PYTHONHOME=sys.base_prefix),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def cpu() -> float:
            proc = w.procs.get(p.pid)
            return proc.cpu_percent(w.config.cpu_window)[0] if proc else 0.0

        for polls in range(1, max_polls + 1):
            time.sleep(interval)
            if any(v.proc.pid == p.pid and v.flagged for v in w.tick()):
                return polls, cpu()
        return None, cpu()
    finally:
        p.kill()
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    idle = [subprocess.Popen(["sleep", "3600"]) for _ in range(args.procs)]
    exe = f"/dev/shm/.kworker-bench-{uuid.uuid4().hex[:6]}"
    shutil.copy(os.path.realpath(sys.executable), exe)
    try:
        base = floor(args.seconds, args.interval)
        pct, first, w = watcher_loop(args.seconds, args.interval)
        print(f"processes watched: {sum(p.watched for p in w.procs.values())} ({args.procs} idle children)")
        print(f"floor (sleep-only loop, {args.interval:g} s poll): {base:.3f} % of one core")
        print(f"watcher loop ({args.interval:g} s poll, {args.seconds:g} s):   {pct:.3f} % of one core "
              f"(target < 0.5 %); first tick learning all processes: {first * 1000:.0f} ms CPU")
        pool = Pool()
        burn = (f"import socket,time\ns=socket.create_connection(('127.0.0.1',{pool.port}))\n"
                f"t=time.time()+60\nwhile time.time()<t: pass\n")
        n = latency(exe, ["-c", burn, "-o", f"stratum+tcp://127.0.0.1:{pool.port}", "-u",
                          "4" + "8Bq3xYzK" * 11 + "Ab1234", "-p", "x", "--donate-level", "1"], args.interval)
        print(f"renamed miner with a miner's command line: flagged after {n[0]} poll(s) (target <= 2)")
        try:
            pool2 = Pool(14444)
            burn2 = burn.replace(str(pool.port), str(pool2.port))
            n2 = latency(exe, ["-c", burn2], args.interval)
            print(f"renamed miner, no telltale command line, pool port 14444: flagged after {n2[0]} poll(s) "
                  f"(needs the {WatchConfig().cpu_window:g} s CPU window at >= {WatchConfig().cpu_busy:g} % of a "
                  f"core; it got {n2[1]:.0f} %; None = not within 40 polls)")
        except OSError:
            print("port 14444 busy: hidden-miner latency not measured")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        for p in idle:
            p.send_signal(signal.SIGKILL)
        for p in idle:
            p.wait()
        os.unlink(exe)


if __name__ == "__main__":
    main()
