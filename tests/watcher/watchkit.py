"""Helpers shared by the watcher tests: real processes, a fake pool on 127.0.0.1, bounded
waits. Fixtures using them are in conftest.py."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from nbwarden.watcher.gpu import Gpu

PYTHON = os.path.realpath(sys.executable)
WALLET = "4" + "8Bq3xYzK" * 11 + "Ab1234"  # 95 characters, shaped like a Monero address
MINER_SECONDS = 60  # every miner-like child exits on its own after this, whatever happens


def burn_code(port: int, seconds: int = MINER_SECONDS, busy: bool = True) -> str:
    """Python for ``-c``: hold a TCP connection to the fake pool and burn CPU (or sleep)."""
    loop = "pass" if busy else "time.sleep(0.05)"
    return (f"import socket,time\ns=socket.create_connection(('127.0.0.1',{port}))\n"
            f"t=time.time()+{seconds}\nwhile time.time()<t: {loop}\n")


class FakePool:
    """A listening socket on 127.0.0.1 that accepts and holds connections, like a pool."""

    def __init__(self, port: int = 0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.connected = threading.Event()
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(c)
            self.connected.set()

    def close(self):
        self._stop = True
        self._t.join(2)
        for c in self.held:
            c.close()
        self.sock.close()


class Spawner:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def __call__(self, argv, **kw) -> subprocess.Popen:
        kw.setdefault("start_new_session", True)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def renamed_python_path() -> Path:
    path = Path(f"/dev/shm/.kworker-{uuid.uuid4().hex[:6]}")
    shutil.copy(PYTHON, path)
    path.chmod(0o755)
    return path


def renamed_env() -> dict:
    # a copied interpreter cannot find its standard library from /dev/shm by itself
    return dict(os.environ, PYTHONHOME=sys.base_prefix)


class NoGpu(Gpu):
    def __init__(self):
        self.available, self.reason, self.handles = False, "disabled in tests", []


def tick_until(watcher, pred, seconds: float = 10.0) -> bool:
    """Tick every interval until ``pred()`` holds or ``seconds`` pass (bounded)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watcher.tick()
        if pred():
            return True
        time.sleep(watcher.config.interval)
    return False


def wait_dead(p: subprocess.Popen, seconds: float = 5.0) -> bool:
    try:
        p.wait(seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def state_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(") ")[2].split()[0]
    except OSError:
        return None
