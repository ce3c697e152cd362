"""Dockerfiles: RUN, CMD and ENTRYPOINT instructions are shell commands; ENV and ARG values are
read as the shell assignments they amount to (`ENV POOL=host:port` sets what RUN and CMD use);
COPY and ADD are read as the copy (`cp SRC... DEST`) or, for ADD of a URL, the download
(`curl -fsSLo DEST URL`) they perform; the rest is not code."""
from __future__ import annotations

import json
import re
import shlex

from ..model import SHELL, Unit

PRIORITY = 40
_INSTR = re.compile(r"^\s*(RUN|CMD|ENTRYPOINT|ENV|ARG|COPY|ADD)\s+(.*)$", re.I)
_RUNS = re.compile(r"(?m)^\s*(?:RUN|CMD|ENTRYPOINT)\s+\S", re.I)  # what makes it code
_LEGACY_ENV = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\S.*)$")


#: ``Dockerfile``, ``Dockerfile.gpu``, ``Dockerfile-cuda``, ``Dockerfile_cpu``, ``gpu.Dockerfile``,
#: ``Containerfile``: the names build tools accept (``docker build -f`` takes any).
_NAME = re.compile(r"^(?:(?:docker|container)file(?:[._-][\w.-]*)?|[\w.-]+\.(?:docker|container)file)$")
#: The first instruction of a Dockerfile (after comments and parser directives): files named
#: otherwise are recognised by content when their suffix says nothing.
_FIRST = re.compile(r"^(?:\s*#[^\n]*\n|\s*\n)*\s*(?:FROM|ARG)\s+\S+")


def matches(name: str) -> bool:
    return bool(_NAME.match(name.lower()))


def sniff(text: str) -> bool:
    """True when text without a telling name reads as a Dockerfile: its first instruction
    is FROM (or an ARG before FROM) and it has a RUN, CMD or ENTRYPOINT."""
    head = text[:4096]
    return bool(_FIRST.match(head)) and re.search(r"(?m)^\s*FROM\s+\S+", head) is not None \
        and _RUNS.search(text) is not None


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
                # keep the backslash: the shell reader joins continued lines into one
                # command, as the shell does (a bare newline would split `apk add \ a \ b`)
                body = body.rstrip() + "\n" + lines[i]
            if m.group(1).upper() in ("ENV", "ARG"):
                legacy = _LEGACY_ENV.match(body)
                if legacy and "=" not in legacy.group(1) and not re.match(r"^[A-Za-z_]\w*=", legacy.group(2)):
                    body = f"{legacy.group(1)}={shlex.quote(legacy.group(2).strip())}"
                units.append(Unit("export " + body, SHELL, line=start + 1))
                i += 1
                continue
            if m.group(1).upper() in ("COPY", "ADD"):
                copy = _copy(m.group(1).upper(), body)
                if copy:
                    units.append(Unit(copy, SHELL, line=start + 1))
                i += 1
                continue
            if body.lstrip().startswith("["):
                try:
                    body = " ".join(json.loads(body))
                except (ValueError, TypeError):
                    pass
            units.append(Unit(body, SHELL, line=start + 1))
        i += 1
    return units


def _copy(instr: str, body: str) -> str | None:
    """The shell command a COPY or ADD amounts to, or None (a heredoc form, a lone argument):
    options (--from, --chown, --chmod, --link) dropped, the last argument the destination."""
    if "<<" in body:
        return None
    body = body.replace("\\\n", " ")
    try:
        args = json.loads(body) if body.lstrip().startswith("[") else shlex.split(body)
    except (ValueError, TypeError):
        return None
    args = [a for a in args if isinstance(a, str) and not a.startswith("--")]
    if len(args) < 2:
        return None
    *srcs, dest = args
    urls = [a for a in srcs if "://" in a]
    if instr == "ADD" and urls:
        return " ; ".join(f"curl -fsSLo {shlex.quote(dest)} {shlex.quote(u)}" for u in urls)
    return "cp " + " ".join(shlex.quote(a) for a in args)
