"""The README and docs are what an operator reads first: a broken edit (a paragraph pasted
thousands of times by a bad substitution) must fail CI, as must a README whose two commands
name scripts that do not exist."""
from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "eval" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_paragraph_repeated(path):
    text = path.read_text(encoding="utf-8")
    assert len(text) < 400_000, f"{path.name} is {len(text)} characters: a broken edit?"
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 120]
    repeated = [p[:80] for p, n in collections.Counter(paragraphs).items() if n > 1]
    assert not repeated, f"{path.name} repeats paragraphs: {repeated[:3]}"


def test_readme_two_commands_name_real_scripts():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Two commands\s+```sh\n(.*?)```", text, re.S)
    assert block, "README has no 'Two commands' block"
    scripts = re.findall(r"bash (scripts/[\w.]+)", block.group(1))
    assert "scripts/install.sh" in scripts and "scripts/test.sh" in scripts
    for s in scripts:
        assert (ROOT / s).is_file(), s
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test.sh" in ci, ".ci/run must run the README's test command"
