"""Dependency lists (requirements*.txt, environment.yml): each entry reads as the install
command it stands for, so the same package rules apply as to `pip install` in a cell."""
from __future__ import annotations

import re

from ..model import SHELL, Unit

PRIORITY = 40


def matches(name: str) -> bool:
    low = name.lower()
    return (low.startswith("requirements") and low.endswith((".txt", ".in"))) or low in (
        "environment.yml", "environment.yaml", "conda.yml", "conda.yaml")


def read(text: str, name: str) -> list[Unit]:
    if name.lower().endswith((".yml", ".yaml")):
        return _conda(text)
    units = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if entry and not entry.startswith("-"):
            units.append(Unit(f"pip install {entry}", SHELL, line=n))
        elif entry.startswith(("-e ", "--editable ")):
            units.append(Unit(f"pip install {entry}", SHELL, line=n))
    return units


def _conda(text: str) -> list[Unit]:
    import yaml  # here, not at the top: only conda files need it

    from . import ReadError
    try:
        env = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ReadError(f"invalid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(env, dict):
        return []
    lines = text.splitlines()

    def line_of(s: str) -> int:
        for n, line in enumerate(lines, 1):
            if s in line:
                return n
        return 1

    units = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, str):
            units.append(Unit(f"conda install {re.split(r'[=<> ]', dep)[0]}", SHELL, line=line_of(dep)))
        elif isinstance(dep, dict):
            for p in dep.get("pip") or []:
                if isinstance(p, str):
                    units.append(Unit(f"pip install {p}", SHELL, line=line_of(p)))
    return units
