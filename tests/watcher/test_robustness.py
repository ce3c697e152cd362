"""Processes that exit mid-read, files other users keep private, pids reused: the watcher
neither crashes nor signals the wrong process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nbwarden.watcher import procfs
from nbwarden.watcher.actions import send
from nbwarden.watcher.process import ProcRef


def test_processes_exiting_mid_read_do_not_crash(spawn, make_watcher):
    # a shell starting hundreds of short-lived children while the watcher ticks fast
    churn = spawn(["/bin/sh", "-c", "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done; sleep 30"])
    w = make_watcher([churn.pid], interval=0.01)
    end = time.monotonic() + 2.0
    ticks = 0
    while time.monotonic() < end:
        w.tick()
        ticks += 1
    assert ticks > 20 and churn.pid in w.procs
    # and every reader answers None or empty for a process that is gone
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    assert procfs.read_stat(p.pid) is None and procfs.read_cmdline(p.pid) is None
    assert procfs.read_link(p.pid, "exe") is None and procfs.read_environ(p.pid) is None
    assert procfs.socket_inodes(p.pid) == set() and procfs.uid_of(p.pid) is None


def test_unprivileged_watcher_survives_permission_errors(make_watcher):
    """In a child that drops to user nobody, tick over every process on the machine: others'
    environ, exe and fd answer EACCES and must simply be skipped."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user and meet other users' private /proc files")
    from nbwarden.watcher import WatchConfig, Watcher
    from nbwarden.policy import Policy
    from watchkit import NoGpu
    policy = Policy.load()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            denied = procfs.read_environ(1) is None and procfs.read_link(1, "exe") is None
            w = Watcher(WatchConfig(interval=0.05, node=True, uid=65534), policy=policy, gpu=NoGpu())
            for _ in range(3):
                w.tick()
            w2 = Watcher(WatchConfig(interval=0.05, uid=0), policy=policy, gpu=NoGpu())  # root's, unreadable
            w2.tick()
            code = 0 if denied and len(w.procs) > 5 else 3
        except BaseException:
            import traceback
            traceback.print_exc()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_reused_pid_is_never_signalled(spawn):
    victim = spawn(["sleep", "30"])
    st = procfs.read_stat(victim.pid)
    assert send(ProcRef(victim.pid, st.starttime + 1), signal.SIGKILL) == "reused"
    assert victim.poll() is None, "a process with another start time must be left alone"
    assert send(ProcRef(victim.pid, st.starttime), signal.SIGTERM) == "sent"
    victim.wait(5)
    assert send(ProcRef(victim.pid, st.starttime), signal.SIGTERM) == "gone"


def test_watcher_and_its_parents_are_protected(make_watcher):
    w = make_watcher([os.getpid()])
    w.tick()
    me = w.procs[os.getpid()]
    assert "the watcher" in w.protection.reason(me)
    result = w.actuator.terminate(me, w.procs)
    assert result.outcome == "reported" and "did not signal" in result.did[0]
    init = procfs.read_stat(1)
    from nbwarden.watcher.process import Proc
    assert w.protection.reason(Proc(1, init.starttime, 0, init.comm, 0)) == "init (pid 1)"


def test_processes_outside_the_roots_are_not_watched(spawn, make_watcher):
    inside = spawn([sys.executable, "-c", "import time; time.sleep(30)"])
    outside = spawn(["sleep", "30"])
    w = make_watcher([inside.pid])
    w.tick()
    assert w.procs[inside.pid].watched and w.procs[inside.pid].argv
    assert not w.procs[outside.pid].watched and w.procs[outside.pid].argv is None
    assert w.protection.reason(w.procs[outside.pid]) == "outside the watched users' processes"
