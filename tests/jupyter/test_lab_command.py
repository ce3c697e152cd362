"""``nbwarden lab`` starts a real JupyterLab with nbwarden and the demos, and stops cleanly."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("jupyterlab", reason="nbwarden lab needs jupyterlab (nbwarden[jupyter])")


def get(url: str, token: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.status, r.read()


def test_lab_serves_nbwarden_and_the_demos(tmp_path):
    folder = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-m", "nbwarden", "lab", str(folder), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.monotonic() + 120
        while "nbwarden lab: http" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+))/lab\?token=(\w+)", line)
        assert m, line
        base, token = m.group(1), m.group(3)
        assert sorted(p.name for p in folder.glob("*.ipynb")) == ["allowed.ipynb", "disallowed.ipynb",
                                                                   "near-misses.ipynb"]
        status, body = get(f"{base}/nbwarden/api/policy", token)
        assert status == 200 and json.loads(body)["tier"] == "free"
        status, body = get(f"{base}/api/kernelspecs", token)
        spec = json.loads(body)["kernelspecs"]["python3"]["spec"]
        assert "--ext=nbwarden.kernel" in spec["argv"]
        status, body = get(f"{base}/lab", token)
        assert status == 200 and b"JupyterLab" in body
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130)
