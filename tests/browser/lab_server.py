"""Start a real JupyterLab for browser tests: 127.0.0.1, a free port, a random token, every
Jupyter directory in a temporary folder, nbwarden's committed prebuilt lab extension, and
nothing that reaches outside the machine (no news, no update check, no extension manager).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
BUILT_EXTENSION = REPO / "src" / "nbwarden" / "labextension"
STARTUP_S = 90  # JupyterLab on a busy 2-core machine


@dataclass
class Lab:
    base: str
    token: str
    store: Path  # the nbwarden event store the server extension records to
    log: Path
    extension: str | None  # the Python module serving /nbwarden/api

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"


def notebook(*sources: str) -> dict:
    cells = [{"id": f"cell-{i}", "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": s} for i, s in enumerate(sources)]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}


@contextlib.contextmanager
def running_lab(tmp: Path, *, extension: str | None, policy: str, notebooks: dict[str, dict]) -> Iterator[Lab]:
    """JupyterLab with ``extension`` enabled and configured with the ``policy`` text (YAML),
    serving ``notebooks`` ({file name: notebook}); stopped (kernels included) on exit.
    ``extension=None``: no nbwarden server extension at all, only the lab extension."""
    root, config, labext, settings = tmp / "root", tmp / "config", tmp / "labextensions", tmp / "settings"
    for d in (root, config, labext):
        d.mkdir()
    for name, nb in notebooks.items():
        (root / name).write_text(json.dumps(nb))
    (tmp / "policy.yaml").write_text(policy)
    # JupyterLab finds an extension by its folder name; this one points at the committed build.
    (labext / "nbwarden").symlink_to(BUILT_EXTENSION, target_is_directory=True)
    # No "Jupyter news?" toast and no update check.
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    store = tmp / "events.sqlite"
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {extension: True} if extension else
                      {"nbwarden.jupyter": False, "fake_check_ext": False}},
        "NbwardenConfig": {"policy_path": str(tmp / "policy.yaml"), "tier": "free", "store_path": str(store)},
        "LabApp": {"extra_labextensions_path": [str(labext)], "news_url": None,
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "extension_manager": "readonly",
                   "workspaces_dir": str(tmp / "workspaces"), "user_settings_dir": str(settings)},
    }))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "IPYTHONDIR": str(tmp / "ipython"),
           "NBWARDEN_DATA_DIR": str(tmp / "nbwarden"), "JUPYTER_PLATFORM_DIRS": "1"}
    if extension == "fake_check_ext":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")]))
    token, port = secrets.token_hex(16), _free_port()
    log_path = tmp / "lab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--IdentityProvider.token={token}",
             "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
             "--allow-root"],  # CI runs as root
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            lab = Lab(f"http://127.0.0.1:{port}", token, store, log_path, extension)
            _wait_ready(proc, lab.url("api/status"), log_path)
            yield lab
        finally:
            proc.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


class LabDidNotStart(RuntimeError):
    pass


def _wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabDidNotStart(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise LabDidNotStart(f"JupyterLab did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
