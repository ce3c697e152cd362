"""``nbwarden`` command line. Each subcommand is a module in this package defining
``register(subparsers)``; they are found by the loop below, so adding a command means adding
one module. No traceback reaches a user: unexpected errors print one line and exit 2."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbwarden", description="Usage-policy enforcement for shared notebook compute.")
    p.add_argument("--version", action="version", version=f"nbwarden {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"{__name__}.{m.name}")
        except ImportError as e:  # an optional part (service, lab) whose extras are not installed
            stub = sub.add_parser(m.name, help=f"(unavailable: {e.name} is not installed)")
            stub.set_defaults(func=lambda a, e=e: _missing(e))
            continue
        mod.register(sub)
    return p


def _missing(e: ImportError) -> int:
    print(f"nbwarden: this command needs {e.name}; install nbwarden[all]", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # last line of defence: one clear line, no traceback
        from ..engine.ruleset import RuleError
        from ..policy import PolicyError
        if isinstance(e, (RuleError, PolicyError)):
            print(f"nbwarden: {e}", file=sys.stderr)
        else:
            print(f"nbwarden: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
