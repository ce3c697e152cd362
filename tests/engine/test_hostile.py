"""Hostile input: huge, deep, or crafted to make matching slow. Matching is RE2 (linear
time); these tests show the cost grows linearly with input for each rule family."""
import time

import pytest

from nbwarden.engine import ruleset


def _cost(fn, arg) -> float:
    """Best of three, in CPU time: other load on the machine does not count."""
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        fn(arg)
        best = min(best, time.process_time() - t)
    return best


FAMILIES = sorted({r.pack for r in ruleset.load().rules})

# Inputs built from each family's trigger vocabulary, repeated to defeat a backtracking
# matcher (long runs of almost-matches).
ADVERSARIAL = ["-o " * 4000 + "x", "stratum+" * 3000, "a" * 20000 + "!", "--pool " * 3000,
               "/" * 20000, "inswapper" * 2000, "share=" * 4000, ".com:" * 4000, "0x" + "a" * 20000,
               "4" * 20000, "ngrok " * 4000, "-u -o " * 3000]


@pytest.mark.parametrize("family", FAMILIES)
def test_matching_is_linear_per_family(engine, family):
    from nbwarden.engine import Engine
    rs = ruleset.load()
    rs.rules = [r for r in rs.rules if r.pack == family]
    eng = Engine(rs)
    for s in ADVERSARIAL:
        small, big = s, s * 4
        # the string is both a literal and a shell command line: every fact kind sees it
        make = lambda x: eng.check_cell(f"s = {x!r}\nimport os\nos.system(s)")  # noqa: E731
        t1, t4 = _cost(make, small), _cost(make, big)
        assert t4 < max(8 * t1, 0.05), f"{family}: {s[:20]!r}: {t1:.4f}s -> {t4:.4f}s for 4x input"


def test_deeply_nested_code(engine):
    for code in ("(" * 200000 + ")" * 200000, "[" * 100000, "x = " + "-" * 500000 + "1",
                 "def f():\n" + "".join(" " * i + "if x:\n" for i in range(1, 3000)) + " " * 3000 + "pass"):
        r = engine.check_cell(code)
        assert r.error is None or "nested" in r.error


def test_multi_megabyte_string_literal(engine):
    code = "x = '" + "A" * (8 << 20) + "'\n!./xmrig -o stratum+tcp://pool.example.net:3333 -u w"
    t = time.process_time()
    r = engine.check_cell(code)
    assert time.process_time() - t < 10
    assert r.error is None


def test_huge_file_is_read_as_text_only_past_the_cap(engine):
    code = ("x = 1\n" * 500000) + "import os\nos.system('./xmrig -o stratum+tcp://pool.example.net:3333 -u w')\n"
    r = engine.scan_bytes(code.encode(), "big.py")
    assert r.error is None and r.verdict == "flag"


def test_evidence_at_the_end_of_a_file_past_every_cap(engine):
    line = "x = compute(a, b, 'some string literal here')\n"
    code = line * (12_000_000 // len(line)) + "import os\nos.system('./xmrig -o stratum+tcp://pool.example.net:3333 -u w')\n"
    t = time.process_time()
    r = engine.scan_bytes(code.encode(), "huge.py")
    assert time.process_time() - t < 60
    assert r.error is None and "NBW201" in {f.rule_id for f in r.findings}


def test_partial_parse_is_bounded():
    """A file of many broken lines is not parsed line by line forever: past MAX_BLOCKS
    top-level blocks, or MAX_BROKEN_BLOCKS failures, it is read as text like before."""
    from nbwarden.engine.extract.python import MAX_BLOCKS, MAX_BROKEN_BLOCKS, _parse_blocks
    many = "a b\n" * (MAX_BLOCKS + 1)
    assert _parse_blocks(many) == (None, [(1, many)])
    mostly_broken = "x = 1\n" + "a b\n" * (MAX_BROKEN_BLOCKS + 1)
    assert _parse_blocks(mostly_broken) == (None, [(1, mostly_broken)])
    tree, broken = _parse_blocks("x = 1\na b\ny = 2\n")
    assert tree is not None and len(tree.body) == 2 and [first for first, _ in broken] == [2]


def test_padding_past_the_unit_cap_does_not_blunt_the_check(engine):
    """A payload only a parser sees (a command folded from pieces) after 10 MB of padding
    is found in a cell and in a scanned file alike, on its true line: units over
    MAX_UNIT_BYTES are parsed in pieces, not read as text only."""
    pad = "# " + "x" * 98 + "\n"
    n = 10_000_000 // len(pad)
    payload = "import os\nos.system('xm' + 'rig -o strat' + 'um+tcp://pool.example' + '.net:3333 -u w')\n"
    small = engine.check_cell(payload)
    assert small.verdict == "flag"
    code = pad * n + payload
    for r in (engine.check_cell(code), engine.scan_bytes(code.encode(), "padded.py")):
        assert r.error is None and r.verdict == "flag"
        assert {f.rule_id for f in r.findings} == {f.rule_id for f in small.findings}
        assert {e.line for f in r.findings for e in f.evidence} == {n + 2}


def test_a_huge_cell_magic_reads_as_its_language_in_every_piece():
    from nbwarden.engine.extract import MAX_UNIT_BYTES, Collector
    from nbwarden.engine.model import Unit
    pad = "# " + "y" * 98 + "\n"
    n = (MAX_UNIT_BYTES + (1 << 20)) // len(pad)
    col = Collector()
    col.run(Unit("%%bash\n" + pad * n + "./xmrig -o stratum+tcp://pool.example.net:3333\n", cell=3))
    assert [(f.value, f.line) for f in col.facts if f.kind == "program"] == [("xmrig", n + 2)]


def test_a_bug_in_analysis_costs_one_file_not_the_batch(engine, monkeypatch, tmp_path):
    """Whatever goes wrong inside the analysis of one file (here a rule-matching step that
    raises, as a fold once did with KeyError) becomes that file's error record; the next
    file is still scanned."""
    from nbwarden.engine import matcher
    real = matcher.Matcher.hits

    def hits(self, facts):
        if any(f.kind == "string" and f.value == "trigger-the-bug" for f in facts):
            raise KeyError("x")
        return real(self, facts)
    monkeypatch.setattr(matcher.Matcher, "hits", hits)
    bad, good = tmp_path / "bad.py", tmp_path / "good.py"
    bad.write_text("import os\nos.system('trigger-the-bug')\n")
    good.write_text("import os\nos.system('./xmrig -o stratum+tcp://pool.example.net:3333 -u w')\n")
    reports = [engine.scan_path(bad), engine.scan_path(good)]
    assert "internal error" in reports[0].error and "KeyError" in reports[0].error
    assert reports[1].error is None and reports[1].verdict == "flag"


_BLOCKS = ["x = 1", "def f(a):\n    return a +", "import os\nos.system('ls')", "class C:\n    y = [1,\n         2]",
           "if x:\n    pass\nelse:\n    y = 2", "a b", "@dec\n# note\ndef g():\n    pass", "s = '''text\nmore'''",
           "z = (1,\n", "for i in r:\n    print(i)\n\n\n", "try:\n    pass\nexcept E:\n    pass", "t = x \\\n    + 1",
           "w = {'k':", "# only a comment", "\x0c    indented = 1", "q = 1 # x = (\nr = q"]


def test_skipping_the_largest_broken_block_parse_changes_nothing():
    """Told that the code failed to parse as a whole, _parse_blocks skips the parse of its
    largest block when every other block parsed: the module and the broken blocks are the
    same as when every block is parsed on its own and its tree's lines moved down (random
    mixes of whole, broken and continued blocks)."""
    import ast
    import random
    from nbwarden.engine.extract import python as py
    from nbwarden.engine.extract.python import _parse, _parse_blocks

    def reference(code):  # the blocks as _parse_blocks cuts them, each parsed alone, its lines moved after
        lines, starts, prev = code.split("\n"), [0], ""
        for i, line in enumerate(lines[1:], 1):
            if line and not py._CONTINUES.match(line) and not prev.rstrip().endswith(("\\", ",", "(", "[", "{", ":")) \
                    and not prev.startswith("@"):
                starts.append(i)
            if line.strip():
                prev = line
        if len(starts) == 1:
            return None, [(1, code)]
        body, broken = [], []
        for a, b in zip(starts, starts[1:] + [len(lines)]):
            text = "\n".join(lines[a:b])
            tree = _parse(text)
            if tree is None:
                broken.append((a + 1, text))
            else:
                body.extend(ast.increment_lineno(tree, a).body)
        return (ast.Module(body=body, type_ignores=[]) if body else None), broken

    def dump(r):
        return (ast.dump(r[0], include_attributes=True) if r[0] is not None else None), r[1]

    rnd, checked = random.Random(5), 0
    for _ in range(3000):
        code = "\n".join(rnd.choice(_BLOCKS) for _ in range(rnd.randint(1, 6)))
        if _parse(code) is None:
            checked += 1
            assert dump(_parse_blocks(code, whole_failed=True)) == dump(reference(code)), code
    assert checked > 1000


def test_blocks_far_down_a_file_keep_their_line_numbers():
    from nbwarden.engine.extract.python import _parse_blocks
    code = "x = (\n" + "\n" * 500 + "import os\nos.system('ls')\n"  # a block with more lines above it than in it
    tree, broken = _parse_blocks(code, whole_failed=True)
    assert [first for first, _ in broken] == [1] and [st.lineno for st in tree.body] == [502, 503]


# Input-driven recursion has explicit bounds (MAX_NESTING, MAX_CELL_MAGICS, MAX_CALL_CHAIN),
# the same pure and compiled: compiled code has no recursion limit, so without them these
# cells exhaust the C stack. Each runs in a subprocess: a crash is a failed test, not a dead
# pytest. The cell must give the "too deeply nested" error record (exit code 0).
_DEEP = {
    "stacked cell magics": '"%%time\\n" * 200000 + "import os"',
    "nested heredocs": '"%%bash\\n" + "".join(f"cat <<E{i}\\n" for i in range(50000))',
    "nested command substitution": '"!echo " + "$(echo " * 20000 + "x" + ")" * 20000',
    "writefile writing writefile": '"".join("%%writefile f.py\\n" if i % 2 else "%%time\\n" for i in range(20000))',
    "call chain": '"f" + "()" * 100000',
}


@pytest.mark.parametrize("label", sorted(_DEEP))
def test_deep_input_gives_an_error_record_not_a_crash(label):
    import subprocess
    import sys
    prog = ("import json\nfrom nbwarden.engine import Engine\n"
            f"r = Engine.default().check_cell({_DEEP[label]})\nprint(json.dumps(r.error))")
    p = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{label}: exit {p.returncode}: {p.stderr[-500:]}"
    err = p.stdout.strip().splitlines()[-1]
    assert err == "null" or "nested" in err, f"{label}: {err}"


def test_below_the_bounds_nothing_changes(engine):
    """A few levels of each nesting still read as before: the payload at the bottom is found."""
    payload = "./xmrig -o stratum+tcp://pool.example.net:3333 -u w"
    bash = "%%bash\n" + "".join(f"cat <<E{i} | bash\n" for i in range(5)) + payload + "\n" + \
        "".join(f"E{i}\n" for i in reversed(range(5)))
    for code in ("%%time\n" * 20 + f"import os\nos.system({payload!r})", bash):
        r = engine.check_cell(code)
        assert r.error is None and r.findings, code[:60]


def test_call_chain_past_its_bound_is_reported(engine):
    """``f()()...`` longer than MAX_CALL_CHAIN (but short enough for the parser, which reads
    100,000 as text) reaches ``_dotted``'s bound: the "too deeply nested" record, not a crash
    in a compiled build; one under it reads as before."""
    from nbwarden.engine.extract.python import MAX_CALL_CHAIN
    assert engine.check_cell("f" + "()" * (MAX_CALL_CHAIN // 2)).error is None
    assert "nested" in (engine.check_cell("f" + "()" * (MAX_CALL_CHAIN + 100)).error or "")
