"""A throwaway PostgreSQL cluster for tests: initdb into a temp folder, a free port on
127.0.0.1, the unix socket in the same folder, trust auth, fsync off. As root the server
runs as the ``postgres`` user (PostgreSQL refuses to run as root)."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bin(name: str) -> str | None:
    for cand in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True) + [shutil.which(name) or ""]:
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; scripts/install.sh installs them")
        self.dir = Path(tempfile.mkdtemp(prefix="nbw-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([self.initdb, "-D", str(self.data), "-A", "trust", "-U", "nbwarden", "--no-sync", "-E", "UTF8"])

    def _run(self, cmd: list[str]) -> None:
        r = subprocess.run(self.as_user + cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr or r.stdout}")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=200")
        # fsync off is safe against a killed server (the OS keeps the pages); synchronous_commit
        # stays on so an acknowledged commit survives the restart tests.
        self._run([self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "20", "stop"])

    def restart(self) -> None:
        self.stop("immediate")
        time.sleep(0.5)
        self.start()

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://nbwarden@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=nbwarden dbname=postgres", autocommit=True) as c:
            c.execute(sql)

    def destroy(self) -> None:
        """Stop the server (by its pid if pg_ctl cannot) and delete the folder."""
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, 9)
                time.sleep(1)
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
