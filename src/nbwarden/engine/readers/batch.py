"""Windows batch files (.bat, .cmd): commands like a shell script's once cmd.exe's own
syntax is set aside (``^`` escapes, ``@`` echo-off prefixes, ``rem`` and ``::`` comments)."""
from __future__ import annotations

import re

from ..model import SHELL, Unit

PRIORITY = 40
_COMMENT = re.compile(r"(?i)^\s*(?:rem(?:\s|$)|::)")


def matches(name: str) -> bool:
    return name.lower().endswith((".bat", ".cmd"))


def read(text: str, name: str) -> list[Unit]:
    lines = []
    for line in text.splitlines():
        if _COMMENT.match(line):
            lines.append("")
            continue
        lines.append(line.lstrip().lstrip("@").replace("^", ""))
    code = "\n".join(lines)
    return [Unit(code, SHELL)] if code.strip() else []
