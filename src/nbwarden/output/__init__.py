"""Report writers, one module per format: human, jsonl, sarif. Each exposes
``Writer(stream, **options)`` with ``write(report)`` and ``close()``; the CLI picks one by name."""
from __future__ import annotations

import importlib

FORMATS = ("human", "jsonl", "sarif")


def writer(fmt: str, stream, **options):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{fmt}").Writer(stream, **options)
