"""A hijacked dependency: a real kernel imports ``evilpkg`` (an installed package with a
dist-info, in a temporary site-packages on PYTHONPATH) whose __init__ drops a renamed copy
of Python into /dev/shm and starts it as a miner. The watcher must terminate the miner,
spare the kernel, and blame the package, not the user: no strike. The same miner started
from the user's own cell is the user's."""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from nbwarden.watcher import dependency
from nbwarden.watcher.process import Proc
from watchkit import WALLET, burn_code, tick_until

USER_WALLET = "4" + "7Cz9wQpR" * 11 + "Zx9876"

EVIL_INIT = '''\
"""evilpkg 1.0: a useful library, hijacked."""
import os, shutil, subprocess, sys
__version__ = "1.0"
_EXE = {exe!r}
_POOL = "stratum+tcp://127.0.0.1:{port}"
_WALLET = "{wallet}"


def _start():
    shutil.copy(os.path.realpath(sys.executable), _EXE)
    os.chmod(_EXE, 0o755)
    p = subprocess.Popen([_EXE, "-c", {code!r}, "-o", _POOL, "-u", _WALLET, "-p", "x", "--donate-level", "1"],
                         env=dict(os.environ, PYTHONHOME=sys.base_prefix),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open({pidfile!r}, "w") as fh:
        fh.write(str(p.pid))


_start()
'''


def _record_line(site: Path, rel: str) -> str:
    data = (site / rel).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


def make_site(tmp_path: Path, *, exe: str, port: int, local_install: bool = False) -> tuple[Path, Path]:
    site = tmp_path / "site-packages"
    pkg = site / "evilpkg"
    pkg.mkdir(parents=True)
    pidfile = tmp_path / "miner.pid"
    (pkg / "__init__.py").write_text(EVIL_INIT.format(exe=exe, port=port, wallet=WALLET, pidfile=str(pidfile),
                                                      code=burn_code(port)))
    di = site / "evilpkg-1.0.dist-info"
    di.mkdir()
    (di / "METADATA").write_text("Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\nSummary: useful\n\n")
    (di / "INSTALLER").write_text("pip\n")
    if local_install:
        (di / "direct_url.json").write_text('{"url": "file:///home/ada/evilpkg", "dir_info": {}}')
    rows = [_record_line(site, r) for r in ("evilpkg/__init__.py", "evilpkg-1.0.dist-info/METADATA",
                                            "evilpkg-1.0.dist-info/INSTALLER")]
    (di / "RECORD").write_text("\n".join(rows + ["evilpkg-1.0.dist-info/RECORD,,"]) + "\n")
    return site, pidfile


def _wait_pid(pidfile: Path, seconds: float = 20) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pidfile.exists() and pidfile.read_text().strip():
            return int(pidfile.read_text())
        time.sleep(0.1)
    raise AssertionError("evilpkg never started its miner")


def _killpid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def kernel(tmp_path, pool):
    """A real IPython kernel whose PYTHONPATH holds the hijacked site-packages."""
    jc = pytest.importorskip("jupyter_client", reason="jupyter_client is not installed (nbwarden[jupyter])")
    exe = f"/dev/shm/.kworker-evil-{uuid.uuid4().hex[:6]}"
    site, pidfile = make_site(tmp_path, exe=exe, port=pool.port)
    km = jc.KernelManager(kernel_name="python3")
    env = dict(os.environ, PYTHONPATH=str(site), HOME=str(tmp_path))
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield km, kc, pidfile, exe
    finally:
        kc.stop_channels()
        pid = km.provisioner.pid if km.provisioner else None
        km.shutdown_kernel(now=True)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)  # the kernel's session: anything it started
            except (ProcessLookupError, PermissionError):
                pass
        if pidfile.exists():
            _killpid(int(pidfile.read_text() or 0) or -1)
        Path(exe).unlink(missing_ok=True)


def test_hijacked_dependency_is_blamed_not_the_user(kernel, make_watcher, events, renamed_python, pool):
    km, kc, pidfile, evil_exe = kernel
    kc.execute_interactive("import evilpkg", timeout=30)
    miner_pid = _wait_pid(pidfile)
    assert pool.connected.wait(10)
    kernel_pid = km.provisioner.pid
    w = make_watcher([kernel_pid], enforce=True)
    assert tick_until(w, lambda: any(v.proc.pid == miner_pid for v in w.verdicts), 15)
    v = next(v for v in w.verdicts if v.proc.pid == miner_pid)
    assert v.decision.category == "mining" and v.result.outcome == "terminated", v.result.did
    assert v.dependency is not None and (v.dependency.name, v.dependency.version) == ("evilpkg", "1.0")
    assert v.dependency.file.endswith("evilpkg/__init__.py")
    assert v.attribution == "dependency:evilpkg==1.0"
    assert all("dependency compromise" in f.explanation for f in v.decision.findings)
    assert "evilpkg 1.0" in v.message and "does not count against you" in v.message
    assert v.started_by["kind"] == "kernel" and v.started_by["pid"] == kernel_pid
    # the miner is gone, the kernel (the user's session) is not
    end = time.monotonic() + 5
    while os.path.exists(f"/proc/{miner_pid}") and time.monotonic() < end:
        if open(f"/proc/{miner_pid}/stat").read().rpartition(") ")[2].startswith("Z"):
            break
        time.sleep(0.1)
    assert km.is_alive()
    ev = next(e for e in events.recent() if e.detail.get("pid") == miner_pid)
    assert ev.attribution == "dependency:evilpkg==1.0" and ev.outcome == "terminated"
    assert not ev.counts_against_user
    assert events.strike_times(ev.user) == []

    # the same kind of miner started by the user's own cell is the user's
    cell = (f"import subprocess, os, sys\n"
            f"p = subprocess.Popen([{renamed_python!r}, '-c', {burn_code(pool.port)!r}, '-o', "
            f"'stratum+tcp://127.0.0.1:{pool.port}', '-u', '{USER_WALLET}', '-p', 'x'], "
            f"env=dict(os.environ, PYTHONHOME=sys.base_prefix))\n"
            f"open('user_miner.pid', 'w').write(str(p.pid))\n")
    kc.execute_interactive(cell, timeout=30)
    user_pid = _wait_pid(pidfile.parent / "user_miner.pid")
    try:
        assert tick_until(w, lambda: any(v.proc.pid == user_pid for v in w.verdicts), 15)
        u = next(v for v in w.verdicts if v.proc.pid == user_pid)
        assert u.dependency is None and u.attribution == "user", u.dependency_note
        assert "match" in u.dependency_note  # "no match", or the search budget spent "without a match"
        ev = next(e for e in events.recent() if e.detail.get("pid") == user_pid)
        assert ev.counts_against_user and len(events.strike_times(ev.user)) == 1
        assert km.is_alive()
    finally:
        _killpid(user_pid)


def test_package_installed_from_a_local_folder_is_the_users_own(tmp_path):
    """direct_url.json (PEP 610) means the user installed it from their own folder or URL."""
    exe = "/dev/shm/.kworker-local"
    site, _ = make_site(tmp_path, exe=exe, port=3333, local_install=True)
    parent = Proc(os.getpid(), 0, 1, "python3", os.getuid(), argv=[sys.executable, "-c", "import evilpkg"],
                  exe=os.path.realpath(sys.executable), env={"PYTHONPATH": str(site)}, role="kernel")
    miner = Proc(os.getpid(), 0, os.getpid(), ".kworker-local", os.getuid(), exe=exe,
                 argv=[exe, "-o", "stratum+tcp://127.0.0.1:3333", "-u", WALLET])
    dep, note = dependency.find([miner, parent])
    assert dep is None and "installed from a local folder" in note and "evilpkg" in note
    (site / "evilpkg-1.0.dist-info" / "direct_url.json").unlink()
    dep, note = dependency.find([miner, parent])
    assert dep is not None and dep.attribution == "dependency:evilpkg==1.0"
    assert WALLET[:20] in dep.how


_READS: list[tuple[str, str]] | None = None  # (audit event, path) while a test records them


def _record_reads(event: str, args: tuple) -> None:
    if _READS is not None and event in ("os.scandir", "os.listdir", "open") and args and isinstance(args[0], str):
        _READS.append((event, args[0]))


def test_each_site_is_listed_once_and_an_unchanged_one_not_searched_again(tmp_path):
    """One ``find`` lists each site-packages folder once; a search already made for the same
    command line and the same installed distributions is not made again, even after the
    distribution cache was emptied (as it is past 64 sites): the search's cache is keyed on
    the dist-info folders' names and times, not on the identity of a cached list."""
    global _READS
    sys.addaudithook(_record_reads)
    exe = "/dev/shm/.kworker-cache"
    site, _ = make_site(tmp_path, exe=exe, port=3333)
    parent = Proc(os.getpid(), 0, 1, "python3", os.getuid(), argv=[sys.executable, "-c", "import evilpkg"],
                  exe=os.path.realpath(sys.executable), env={"PYTHONPATH": str(site)}, role="kernel")
    miner = Proc(os.getpid(), 0, os.getpid(), ".kworker-cache", os.getuid(), exe=exe,
                 argv=[exe, "-o", "stratum+tcp://127.0.0.1:3333", "-u", WALLET])
    code_file = str(site / "evilpkg" / "__init__.py")
    runs = []
    try:
        for clear in (False, False, True):
            if clear:
                dependency._CACHE.clear()
            _READS = []
            runs.append((dependency.find([miner, parent]), _READS))
    finally:
        _READS = None
    for (dep, note), reads in runs:
        assert dep is not None and dep.attribution == "dependency:evilpkg==1.0", note
        assert [e for e, p in reads if p == str(site) and e != "open"] == ["os.scandir"]
    first, again, after_clear = (reads for _, reads in runs)
    assert ("open", code_file) in first
    assert ("open", code_file) not in again and ("open", code_file) not in after_clear
