"""Shell scripts: one unit each."""
from __future__ import annotations

from ..model import SHELL, Unit

PRIORITY = 30


def matches(name: str) -> bool:
    return name.endswith((".sh", ".bash", ".zsh", ".command"))


def read(text: str, name: str) -> list[Unit]:
    return [Unit(text, SHELL)] if text.strip() else []
