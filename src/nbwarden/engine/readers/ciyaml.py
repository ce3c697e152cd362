"""YAML files: CI workflows and compose files hold shell commands under known keys.

A GitHub Actions step's ``run:``, a GitLab or Travis job's ``script:`` / ``before_script:``,
CircleCI's ``run: {command: ...}``, a compose service's ``command:`` / ``entrypoint:``, a
Kubernetes container's ``command:`` with its ``args:`` (one argv; ``args:`` alone are the options
the image's entrypoint gets) are shell the runner executes. Each becomes a shell unit at its line. The whole text is still
read as before (as text, its strings and URLs), so nothing found in other YAML is lost.
Conda environment files are claimed first by the requirements reader.
"""
from __future__ import annotations

import shlex

from ..model import PYTHON, SHELL, Unit

PRIORITY = 45  # after requirements (environment.yml, conda.yml)
MAX_YAML_BYTES = 2 << 20  # larger YAML is read as text only
MAX_NODES = 200_000  # nodes visited per file (anchors can make a small file a large graph)
#: keys whose value is a shell command line (a string), a list of command lines, or, for
#: compose's command/entrypoint, an argv list
SHELL_KEYS = frozenset({"run", "script", "before_script", "after_script", "before_install", "install",
                        "bash", "sh", "pwsh", "command", "entrypoint", "shell_command"})
_ARGV_KEYS = frozenset({"command", "entrypoint"})


def matches(name: str) -> bool:
    return name.lower().endswith((".yml", ".yaml"))


def read(text: str, name: str) -> list[Unit]:
    if not text.strip():
        return []
    units = [Unit(text, PYTHON)]  # what an unknown suffix was read as before: text facts
    if len(text) <= MAX_YAML_BYTES:
        units += _shell_units(text)
    return units


def _shell_units(text: str) -> list[Unit]:
    import yaml  # here, not at the top: only YAML files need it
    try:
        # libyaml's loader when PyYAML has it: the same nodes and marks, 20x faster than the
        # pure-Python one (8.7 -> 0.45 ms on a 160-line workflow)
        roots = list(yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (yaml.YAMLError, RecursionError, ValueError):
        return []
    out: list[Unit] = []
    seen: set[int] = set()
    stack = [r for r in roots if r is not None]
    budget = MAX_NODES
    while stack and budget > 0:
        node = stack.pop()
        budget -= 1
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            args = next((v for key, v in node.value if isinstance(key, yaml.ScalarNode) and key.value == "args"), None)
            for key, value in node.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else None
                if isinstance(k, str) and k.lower() in SHELL_KEYS:
                    if k == "command" and isinstance(args, yaml.SequenceNode) and isinstance(value, yaml.SequenceNode):
                        # a Kubernetes container: the program (command) and its argv (args) are one process
                        value = yaml.SequenceNode(value.tag, value.value + args.value, value.start_mark, value.end_mark)
                        args = None
                    out += _commands(value, k.lower() in _ARGV_KEYS, yaml)
                stack.append(value)
            if args is not None:  # args alone: the image's own entrypoint gets these options
                out += _commands(args, True, yaml)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    out.sort(key=lambda u: u.line)
    return out


def _commands(node, argv_list: bool, yaml) -> list[Unit]:
    """The shell of one key's value: a string is a command line (a block of them); a list
    of strings is one command line each, or, under command/entrypoint, one argv."""
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and node.value.strip():
        # a block scalar (run: |) starts on the line after its key
        line = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        return [Unit(node.value, SHELL, line=line)]
    if isinstance(node, yaml.SequenceNode):
        items = [n for n in node.value if isinstance(n, yaml.ScalarNode) and isinstance(n.value, str)]
        if not items:
            return []
        if argv_list and len(items) == len(node.value):
            return [Unit(" ".join(shlex.quote(n.value) for n in items), SHELL, line=node.start_mark.line + 1)]
        return [Unit(n.value, SHELL, line=n.start_mark.line + 1) for n in items if n.value.strip()]
    return []
