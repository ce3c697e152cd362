"""Installing nbwarden enables the server extension: the wheel ships the
jupyter_server_config.d file, and jupyter_server reads it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_enabling_file_is_shipped_and_read():
    shipped = json.loads((ROOT / "jupyter-config/jupyter_server_config.d/nbwarden.json").read_text())
    assert shipped == {"ServerApp": {"jpserver_extensions": {"nbwarden.jupyter": True}}}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"etc/jupyter/jupyter_server_config.d/nbwarden.json"' in pyproject
    installed = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nbwarden.json"
    assert installed.exists(), "reinstall nbwarden: the install did not place the enabling file"
    out = subprocess.run([sys.executable, "-m", "jupyter_server", "extension", "list"], capture_output=True,
                         text=True, timeout=120)
    text = out.stdout + out.stderr
    line = next(ln for ln in text.splitlines() if "nbwarden.jupyter" in ln)
    assert "enabled" in line and "OK" in text[text.index("nbwarden.jupyter"):]
