"""Python and IPython scripts: one unit each."""
from __future__ import annotations

from ..model import PYTHON, Unit

PRIORITY = 20


def matches(name: str) -> bool:
    return name.endswith((".py", ".pyw", ".ipy"))


def read(text: str, name: str) -> list[Unit]:
    return [Unit(text, PYTHON)] if text.strip() else []
