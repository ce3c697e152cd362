"""Node agent mode: every process, attributed to the JupyterHub user and server named in its
environment (or its parent's, when it cleared its own)."""
from __future__ import annotations

import os
import sys

import pytest

from watchkit import WALLET, burn_code, tick_until


def test_node_mode_attributes_to_the_hub_user(spawn, renamed_python, pool, make_watcher, events, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("node mode reads other users' /proc/PID/environ: needs root")
    # a user's server process (its environment names the user), whose child clears its
    # environment and runs the miner
    launcher = (f"import os, subprocess, sys, time\n"
                f"p = subprocess.Popen([{renamed_python!r}, '-c', {burn_code(pool.port)!r}, '-o', "
                f"'stratum+tcp://127.0.0.1:{pool.port}', '-u', {WALLET!r}, '-p', 'x'], "
                f"env={{'PYTHONHOME': sys.base_prefix}})\n"
                f"time.sleep(60)\n")
    (tmp_path / "server.py").write_text(launcher)
    server = spawn([sys.executable, str(tmp_path / "server.py")],
                   env=dict(os.environ, JUPYTERHUB_USER="ada", JUPYTERHUB_SERVER_NAME="gpu-large"))
    assert pool.connected.wait(10)
    w = make_watcher([server.pid], node=True)
    assert tick_until(w, lambda: w.verdicts, 10)
    v = w.verdicts[0]
    assert v.proc.ppid == server.pid and v.proc.env.get("JUPYTERHUB_USER") is None
    o = v.proc.owner
    assert (o.user, o.server, o.source) == ("ada", "gpu-large", "inherited from parent")
    assert v.proc.watched
    ev = events.recent()[0]
    assert ev.user == "ada" and ev.server == "gpu-large" and ev.category == "mining"
    assert w.procs[server.pid].owner.source == "env:JUPYTERHUB_USER"


def test_node_mode_never_signals_unattributed_processes(spawn, make_watcher):
    if os.geteuid() != 0:
        pytest.skip("node mode reads other users' /proc/PID/environ: needs root")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    host = spawn(["sleep", "30"], env=env)
    w = make_watcher([host.pid], node=True, enforce=True)
    w.tick()
    p = w.procs[host.pid]
    assert p.argv == ["sleep", "30"] and not p.watched, "judged, but not one of a hub user's processes"
    assert w.protection.reason(p) == "outside the watched users' processes"
    assert w.actuator.terminate(p, w.procs).outcome == "reported" and host.poll() is None
