"""Files a cell runs. A user can save code to a file (the contents API, an editor tab) and
run it with ``%run miner.py`` or ``!bash start.sh``: the cell then looks innocent and the
payload is in the file. The check reads such files from the kernel's working folder too.

Only the first few referenced files, only regular files up to MAX_SCRIPT_BYTES, and only
names written literally in the cell (a name built at run time is the kernel extension's
and the watcher's to see).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

MAX_SCRIPTS = 5
MAX_SCRIPT_BYTES = 2 << 20
_RUNS = re.compile(
    r"""^[ \t]*(?:(?:%run(?:[ \t]+-\S+)*|!+[ \t]*(?:python3?|bash|sh|zsh|source|\.)(?:[ \t]+-\S+)*)[ \t]+["']?
                  ([^\s;|&"'<>]+)
               |!+[ \t]*(\./[^\s;|&"'<>]+))""", re.M | re.X)


def referenced(code: str) -> list[str]:
    if "%run" not in code and "!" not in code:
        return []
    return list(dict.fromkeys(m.group(1) or m.group(2) for m in _RUNS.finditer(code)))[:MAX_SCRIPTS]


def resolve(names: list[str], cwd: str | None) -> list[Path]:
    if not cwd:
        return []
    out = []
    for name in names:
        p = Path(cwd, name)
        try:
            if p.is_file() and p.stat().st_size <= MAX_SCRIPT_BYTES:
                out.append(p)
        except OSError:
            continue
    return out


def kernel_cwd(kernel_manager, root_dir: str | None = None) -> str | None:
    """The folder the kernel is in now, so ``%cd sub`` in one cell and ``%run x.py`` in a
    later one reads ``sub/x.py`` as the kernel will: ``/proc/PID/cwd`` of a kernel running
    on this machine (the server can read it: same user, or root). Otherwise the folder it
    was started in: jupyter_client keeps its launch arguments; a kernel started without a
    notebook path runs in the server's root folder. A ``%cd`` earlier in the same cell is
    not followed (it has not run yet)."""
    pid = getattr(getattr(kernel_manager, "provisioner", None), "pid", None)
    if isinstance(pid, int) and pid > 0:
        try:
            return os.readlink(f"/proc/{pid}/cwd")
        except OSError:  # not on this machine's procfs, gone, or not ours to read
            pass
    args = getattr(kernel_manager, "_launch_args", None)
    cwd = args.get("cwd") if isinstance(args, dict) else None
    return str(cwd or root_dir or "") or None
