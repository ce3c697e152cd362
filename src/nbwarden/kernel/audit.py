"""PEP 578 audit hooks: what the kernel's code actually does, whatever its source looked like.

``compile`` carries the decoded source of ``exec(base64.b64decode(...))``; process events
carry command lines; ``socket.connect`` carries the address. The hook runs for every audit
event in the process (``import numpy`` raises about 1,700), so its first step is a frozenset
lookup and it returns at once for everything else. Audit hooks cannot be removed: unloading
the extension only pauses them. A thread-local flag stops the hook from seeing the events
its own work raises (the engine's ``ast.parse``, the event store's sqlite3 calls).
"""
from __future__ import annotations

import contextlib
import sys
import threading

from ..events import Event
from ..jupyter.tokens import code_hash

_PROCESS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn"})
WATCHED = _PROCESS | {"compile", "socket.connect"}
#: Ports mining pools listen on; a connection to one is recorded (never refused) for review.
POOL_PORTS = frozenset({3333, 3334, 3357, 4444, 5555, 5588, 6666, 7777, 8008, 9999, 14433, 14444, 45700})
_CELL_PREFIXES = ("/tmp/ipykernel_", "<ipython-input-")  # cells: the AST transformer checks them
_IPYTHON_PROBE = "<>"  # IPython compiles each cell under this name to test for top-level await
_MAX_SOURCE = 1 << 20


def _trusted_compilers() -> frozenset[tuple[str, str]]:
    """Standard-library code generators whose source is built from identifiers they
    validate (namedtuple, dataclasses): most of the compiles an import raises (all 22 of
    `import numpy`'s), never a way to run arbitrary text."""
    import collections
    import dataclasses
    return frozenset({(collections.__file__, "namedtuple"), (dataclasses.__file__, "_create_fn"),
                      (dataclasses.__file__, "_make_fn"), (dataclasses.__file__, "add_fns_to_class")})


_TRUSTED_COMPILERS = _trusted_compilers()

_local = threading.local()
_state = {"installed": False, "active": False, "settings": None, "seen": set(), "cells": {}}


def install_audit_hooks(settings, cell_files: dict | None = None) -> None:
    """``cell_files``: IPython's map of cell file names (``ip.compile._filename_map``), so
    the compile of a cell itself, already read by the AST transformer, is not read twice."""
    _state["settings"] = settings
    _state["cells"] = cell_files if cell_files is not None else {}
    _state["active"] = True
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True


def pause_audit_hooks() -> None:
    _state["active"] = False


@contextlib.contextmanager
def quiet():
    """Run nbwarden's own work without the hook looking at it."""
    prev = getattr(_local, "busy", False)
    _local.busy = True
    try:
        yield
    finally:
        _local.busy = prev


def _hook(event: str, args: tuple) -> None:
    if event not in WATCHED or not _state["active"] or getattr(_local, "busy", False):
        return
    _local.busy = True
    try:
        _observe(event, args)
    except Exception:
        pass  # an audit hook that raises would abort the user's operation
    finally:
        _local.busy = False


def _observe(event: str, args: tuple) -> None:
    s = _state["settings"]
    if event == "compile":
        source, filename = (args + (None, None))[:2]
        if isinstance(source, bytes):
            source = source.decode("utf-8", "replace")
        if not isinstance(source, str) or not source or len(source) > _MAX_SOURCE:
            return
        if isinstance(filename, str) and (filename == _IPYTHON_PROBE or filename in _state["cells"]
                                          or filename.startswith(_CELL_PREFIXES)):
            return
        caller = sys._getframe(2).f_code  # 0: here, 1: _hook, 2: the Python code that called compile
        if (caller.co_filename, caller.co_name) in _TRUSTED_COMPILERS:
            return
        report = s.engine.check_cell(source)
        _report_if_flagged(s, report, source, {"event": "compile", "filename": str(filename)[:200]})
    elif event in _PROCESS:
        argv = _argv(event, args)
        if argv:
            report = s.engine.check_command(argv)
            _report_if_flagged(s, report, argv if isinstance(argv, str) else " ".join(argv),
                               {"event": event})
    elif event == "socket.connect":
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in POOL_PORTS:
            key = f"connect:{address[0]}:{address[1]}"
            if _first_time(key):
                s.reporter.report(Event(source="kernel", outcome="reported", action="log", user=s.user,
                                        server=s.server, kernel=s.kernel, tier=s.tier,
                                        content_hash=code_hash(key),
                                        detail={"event": "socket.connect", "host": str(address[0])[:255],
                                                "port": address[1], "why": "a port mining pools listen on"}))


def _argv(event: str, args: tuple):
    if event == "os.system":
        cmd = args[0] if args else None
        return cmd.decode("utf-8", "replace") if isinstance(cmd, bytes) else cmd
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        argv = args[1] if len(args) > 1 else None
    elif event == "os.spawn":  # (mode, path, args, env)
        argv = args[2] if len(args) > 2 else None
    else:  # os.posix_spawn, os.exec: (path, argv, env)
        argv = args[1] if len(args) > 1 else None
    if isinstance(argv, (str, bytes)):
        return argv.decode("utf-8", "replace") if isinstance(argv, bytes) else argv
    try:
        return [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in argv]
    except TypeError:
        return None


def _report_if_flagged(s, report, text: str, detail: dict) -> None:
    if report.error or not report.findings:
        return
    decision = s.policy.decide(report, s.tier)
    if decision.action == "allow":
        return
    digest = code_hash(text)
    if not _first_time(digest):
        return
    s.reporter.report(Event.of_decision(decision, source="kernel", outcome="reported", user=s.user, server=s.server,
                                        kernel=s.kernel, content_hash=digest, detail={**detail, "text": text[:500]}))


def _first_time(key: str) -> bool:
    seen = _state["seen"]
    if key in seen:
        return False
    if len(seen) > 10_000:
        seen.clear()
    seen.add(key)
    return True
