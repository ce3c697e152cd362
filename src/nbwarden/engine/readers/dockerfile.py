"""Dockerfiles: RUN, CMD and ENTRYPOINT instructions are shell commands; the rest is not code."""
from __future__ import annotations

import json
import re

from ..model import SHELL, Unit

PRIORITY = 40
_INSTR = re.compile(r"^\s*(RUN|CMD|ENTRYPOINT)\s+(.*)$", re.I)


def matches(name: str) -> bool:
    low = name.lower()
    return low in ("dockerfile", "containerfile") or low.endswith(".dockerfile") or low.startswith("dockerfile.")


def read(text: str, name: str) -> list[Unit]:
    units, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        m = _INSTR.match(lines[i])
        start = i
        if m:
            body = m.group(2)
            while body.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                body = body.rstrip()[:-1] + "\n" + lines[i]
            if body.lstrip().startswith("["):
                try:
                    body = " ".join(json.loads(body))
                except (ValueError, TypeError):
                    pass
            units.append(Unit(body, SHELL, line=start + 1))
        i += 1
    return units
