"""What the machine is for must be left alone, even with --enforce and a terminate policy:
a CPU-heavy training run holding a connection, an Xvfb display for RL rendering, and a real
Jupyter server."""
from __future__ import annotations

import shutil
import socket
import sys
import time
import urllib.request

import pytest

from watchkit import FakePool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cpu_heavy_training_left_alone(spawn, make_watcher, tmp_path):
    # a "parameter server" on 9000 when free: a pool port that ordinary services use too
    try:
        server = FakePool(9000)
    except OSError:
        server = FakePool()
    try:
        script = tmp_path / "train.py"
        script.write_text(
            "import socket, sys, time\n"
            f"s = socket.create_connection(('127.0.0.1', {server.port}))\n"
            "t = time.time() + 30\n"
            "step = 0\n"
            "while time.time() < t:\n"
            "    step += sum(i * i for i in range(1000))  # the 'training'\n")
        # its command line names the server it connects to, as a MinIO / S3 endpoint would
        p = spawn([sys.executable, str(script), "--epochs", "3", "--lr", "0.001",
                   "--s3-endpoint", f"http://127.0.0.1:{server.port}"])
        assert server.connected.wait(10)
        # a low "busy" bar (5% of a core) so the CPU signal counts on a shared, loaded test machine
        w = make_watcher([p.pid], enforce=True, cpu_busy=5.0)
        end = time.monotonic() + 2.5  # past the 1 s CPU window and the 1 s long-lived threshold
        while time.monotonic() < end:
            w.tick()
            time.sleep(0.2)
        assert not w.verdicts, [v.to_dict() for v in w.verdicts]
        assert p.poll() is None
        proc = w.procs[p.pid]
        if server.port == 9000:
            # the pool port made it a suspect; busy CPU raised the finding, which still stays
            # under the threshold: no hidden executable, no miner-shaped command line
            (f,) = proc.latest
            facts = {e.fact for e in f.evidence}
            assert f.rule_id == "NBW902" and any(x.startswith("cpu: sustained") for x in facts), facts
            assert f.confidence < w.policy.threshold
    finally:
        server.close()


def test_xvfb_display_left_alone(spawn, make_watcher):
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        pytest.skip("Xvfb is not installed (Debian package xvfb; scripts/install.sh installs it as root)")
    display = f":{90 + _free_port() % 400}"
    p = spawn([xvfb, display, "-screen", "0", "640x480x24", "-nolisten", "tcp"])
    time.sleep(1.0)
    if p.poll() is not None:
        pytest.skip(f"Xvfb exited at once (status {p.returncode}); display {display} may be taken")
    w = make_watcher([p.pid], enforce=True)
    for _ in range(8):
        w.tick()
        time.sleep(0.2)
    assert not w.verdicts and p.poll() is None
    assert not w.procs[p.pid].static["exe"], "Xvfb runs from /usr/bin under its own name"


def test_real_jupyter_server_left_alone(spawn, make_watcher, tmp_path):
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (nbwarden[jupyter])")
    port = _free_port()
    p = spawn([sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--ServerApp.token=t0k3n", f"--ServerApp.root_dir={tmp_path}", "--allow-root"],
              env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")})
    end = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t0k3n", timeout=1).read()
            break
        except OSError:
            assert p.poll() is None, "jupyter server exited"
            assert time.monotonic() < end, "jupyter server did not start within 30 s"
            time.sleep(0.3)
    w = make_watcher([p.pid], enforce=True)
    for _ in range(6):
        w.tick()
        time.sleep(0.2)
    assert w.procs[p.pid].role == "server"
    assert not w.verdicts and p.poll() is None
    # and the safety net: even asked directly, the actuator refuses to signal the server
    result = w.actuator.terminate(w.procs[p.pid], w.procs)
    assert result.outcome == "reported" and "Jupyter server itself" in result.did[0]
    assert p.poll() is None
