"""Readers turn a file's bytes into units of code. One module per kind of input.

Each reader module defines ``matches(name: str) -> bool`` and ``read(text: str, name: str)
-> list[Unit]``, and is found by the loop below: adding a new input kind means adding one
module here, nothing else. ``ReadError`` carries the one-line message a user sees.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import PurePath

from ..model import Unit


class ReadError(Exception):
    """A file the engine cannot read; the message is shown to the user as is."""


class InvalidJSON(ReadError):
    """Text that is not JSON at all, where JSON was expected (a notebook, or a file that
    looked like one): unlike JSON of another shape, it cannot be read as data either."""


_READERS = [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)]
# The notebook and Python readers claim the most common suffixes; order them first for speed.
_READERS.sort(key=lambda mod: getattr(mod, "PRIORITY", 50))


def reader_for(name: str):
    base = PurePath(name).name
    for mod in _READERS:
        if mod.matches(base):
            return mod
    return None


def is_supported(name: str) -> bool:
    return reader_for(name) is not None


MAX_BYTES_TEXT_CHECK = 8192


def decode(data: bytes, name: str) -> str:
    """Bytes to text, refusing binaries with a clear message rather than guessing."""
    if b"\0" in data[:MAX_BYTES_TEXT_CHECK]:
        raise ReadError("binary file (contains NUL bytes), not code")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        text = data.decode("utf-8", "replace")
        if text.count("\ufffd") > max(16, len(text) // 100):
            raise ReadError(f"not UTF-8 text (undecodable byte at offset {e.start})") from None
        return text


def _interpreter(text: str) -> str | None:
    """'shell' or 'python' when the first line is a shebang naming one, else None."""
    if not text.startswith("#!"):
        return None
    words = text.split("\n", 1)[0][2:].split()
    if words and PurePath(words[0]).name == "env":  # #!/usr/bin/env [-S] prog args
        words = [w for w in words[1:] if not w.startswith("-")]
    prog = PurePath(words[0]).name if words else ""
    if prog.startswith("python"):
        return "python"
    if prog in ("sh", "bash", "dash", "zsh", "ksh", "ash"):
        return "shell"
    return None


def read_units(data: bytes, name: str, *, sniff: bool = True) -> list[Unit]:
    """The units of one file. An unknown suffix is sniffed: notebook JSON, a shell
    shebang, a Dockerfile (first instruction FROM), else Python. A script's shebang wins
    over its suffix: the kernel runs `./x.py` starting with `#!/bin/sh` as shell, whatever
    it is called."""
    from . import dockerfile, notebook, python, shell
    mod = reader_for(name)
    text = decode(data, name)
    if mod is None:
        if not sniff:
            raise ReadError("unsupported file type")
        head = text.lstrip()[:200]
        mod = (notebook if head.startswith("{") else shell if _interpreter(text.lstrip()) == "shell"
               else dockerfile if dockerfile.sniff(text) else python)
        if mod is notebook:
            try:
                return notebook.read(text, name, claimed=False)
            except InvalidJSON:
                raise
            except ReadError:
                # a JSON document that is not a notebook (a deployment template, a task definition,
                # a program's config.json): read as YAML is, its strings and the commands under
                # known keys ("command": [...], "entrypoint"); YAML's parser reads JSON
                from . import ciyaml
                return ciyaml.read(text, name)
    elif mod in (python, shell):
        mod = {"python": python, "shell": shell}.get(_interpreter(text), mod)
    return mod.read(text, name)
