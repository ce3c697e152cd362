"""``nbwarden`` command line. Each subcommand is a module in this package, named like the
command, defining ``register(subparsers)``; they are found by the loop below, so adding a
command means adding one module. No traceback reaches a user: unexpected errors print one
line and exit 2."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .. import __version__


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or, when ``command`` names one, with that one only:
    ``nbwarden scan`` does not pay start-up time for importing what ``serve`` or ``lab``
    need. Help and unknown commands get the full list."""
    p = argparse.ArgumentParser(prog="nbwarden", description="Usage-policy enforcement for shared notebook compute.")
    p.add_argument("--version", action="version", version=f"nbwarden {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in [command] if command in names else names:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ImportError as e:  # an optional part (service, lab) whose extras are not installed
            stub = sub.add_parser(name, help=f"(unavailable: {e.name} is not installed)")
            stub.set_defaults(func=lambda a, e=e: _missing(e))
            continue
        mod.register(sub)
    return p


def _missing(e: ImportError) -> int:
    print(f"nbwarden: this command needs {e.name}; install nbwarden[all]", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
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
