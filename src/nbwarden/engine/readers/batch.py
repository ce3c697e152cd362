"""Windows batch files (.bat, .cmd): commands like a shell script's once cmd.exe's own
syntax is set aside (``^`` escapes, ``@`` echo-off prefixes, ``rem`` and ``::`` comments,
apostrophes, which cmd.exe does not treat as quotes)."""
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
        # cmd.exe quotes only with "; a lone ' (echo Don't ...) must not open a shell quote
        lines.append(line.lstrip().lstrip("@").replace("^", "").replace("'", ""))
    code = "\n".join(lines)
    return [Unit(code, SHELL)] if code.strip() else []
