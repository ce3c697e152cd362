"""``nbwarden serve`` as a real subprocess on a free loopback port, for the tests and the
ingest benchmark (``bench/bench_ingest.py``): one way to start it, wait for readiness and
stop it, with nothing left running if the caller dies."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .pg import free_port


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies, however it dies, so
    a killed test run leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class ServerProcess:
    """``nbwarden serve`` as a real subprocess on a free loopback port."""

    def __init__(self, db_url: str, tmp: Path, *args: str, **env):
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "NBWARDEN_DATABASE_URL": db_url, "NBWARDEN_DATA_DIR": str(tmp),
                    "NBWARDEN_SECRET_KEY": "s" * 8 + secrets.token_urlsafe(32), "NBWARDEN_RATE_BURST": "100000",
                    "NBWARDEN_RATE_PER_SECOND": "100000", **env}
        self.log = tmp / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "ServerProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "nbwarden", "serve", "--port", str(self.port), *self.args],
                                     env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
