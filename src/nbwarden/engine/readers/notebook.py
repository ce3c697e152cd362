"""Jupyter notebooks, nbformat 4 (and 3): code cells only; outputs and markdown are prose,
not code, and are ignored. The kernel's language decides how cells are read."""
from __future__ import annotations

from ..model import PYTHON, SHELL, TEXT, Unit

PRIORITY = 10


def matches(name: str) -> bool:
    return name.endswith(".ipynb")


def _language(nb: dict) -> str:
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return PYTHON
    for key, sub in (("kernelspec", "language"), ("language_info", "name"), ("kernelspec", "name")):
        d = meta.get(key)
        if isinstance(d, dict) and isinstance(d.get(sub), str):
            lang = d[sub].lower()
            if lang.startswith(("python", "ipython")) or lang in ("", "xpython"):
                return PYTHON
            if lang in ("bash", "sh", "shell", "zsh"):
                return SHELL
            return TEXT
    return PYTHON


def _source(cell: dict, index: int, key: str) -> str:
    src = cell.get(key, "")
    if isinstance(src, str):
        return src
    if isinstance(src, list):
        try:
            return "".join(src)  # refuses any item that is not text, without a loop in Python
        except TypeError:
            pass
    from . import ReadError
    raise ReadError(f"cell {index}: '{key}' is {type(src).__name__}, not text or a list of text")


def read(text: str, name: str, *, claimed: bool = True) -> list[Unit]:
    """The code cells of a notebook. ``claimed``: the file says it is one (``.ipynb``), so
    invalid JSON is "not a notebook"; a sniffed file's invalid JSON is just that. Invalid JSON
    raises ``InvalidJSON``; any other ``ReadError`` is JSON of another shape, which a sniffing
    caller reads as data."""
    import orjson  # here, not at the top: its import (uuid, platform) is start-up a script scan does not need

    from . import InvalidJSON, ReadError
    try:
        nb = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InvalidJSON(f"{'not a notebook: ' if claimed else ''}invalid JSON ({e.args[0] if e.args else e})") from None
    if not isinstance(nb, dict):
        raise ReadError(f"not a notebook: top level is {type(nb).__name__}, not an object")
    if "cells" in nb:
        cells, key = nb["cells"], "source"
    elif isinstance(nb.get("worksheets"), list):  # nbformat 3
        cells = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in (ws.get("cells") or [])]
        key = "input"
    else:
        raise ReadError("not a notebook: no 'cells' list")
    if not isinstance(cells, list):
        raise ReadError(f"not a notebook: 'cells' is {type(cells).__name__}, not a list")
    lang = _language(nb)
    units = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise ReadError(f"cell {i}: is {type(cell).__name__}, not an object")
        if cell.get("cell_type") != "code":
            continue
        src = _source(cell, i, key)
        if src.strip():
            units.append(Unit(src, lang, cell=i))
    return units
