"""Demo notebooks we wrote ourselves: ``allowed`` (everyday work), ``near-misses`` (code
that resembles forbidden uses and must run: a Bitcoin-from-scratch lesson with a /mine
route, a metric-learning miner, lecture notes naming the stratum protocol) and
``disallowed`` (a miner start cell, the same miner base64-hidden, an ngrok tunnel).
``nbwarden lab`` copies them into its working folder."""
from __future__ import annotations

import shutil
from pathlib import Path


def demo_path() -> Path:
    return Path(__file__).parent


def copy_demos(dest: Path) -> list[Path]:
    """Copy the demo notebooks into ``dest`` (existing files are left as they are)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for nb in sorted(demo_path().glob("*.ipynb")):
        target = dest / nb.name
        if not target.exists():
            shutil.copyfile(nb, target)
        out.append(target)
    return out
