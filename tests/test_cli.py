"""The command line as a user runs it: a real subprocess, real files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MINER = "!./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x\n"


def nbw(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "nbwarden", *args], capture_output=True, text=True,
                          input=stdin, timeout=120)


def jsonl(out: str):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_exit_codes(tmp_path):
    clean, bad, broken = tmp_path / "ok.py", tmp_path / "bad.ipynb", tmp_path / "broken.ipynb"
    clean.write_text("x = 1\n")
    bad.write_text(json.dumps({"cells": [{"cell_type": "code", "source": MINER}]}))
    broken.write_text("{not json")
    assert nbw("scan", str(clean)).returncode == 0
    assert nbw("scan", str(bad)).returncode == 1
    assert nbw("scan", str(broken)).returncode == 2
    assert nbw("scan", str(broken), str(clean)).returncode == 0, "errors with clean files: 0"
    assert nbw("scan", str(broken), str(bad)).returncode == 1


def test_jsonl_has_one_record_per_file_and_the_batch_goes_on(tmp_path):
    files = []
    for i, body in enumerate(["x = 1", "{bad", MINER, "\x00\x01binary"]):
        p = tmp_path / f"f{i}.ipynb"
        if i == 2:
            body = json.dumps({"cells": [{"cell_type": "code", "source": body}]})
        p.write_bytes(body.encode())
        files.append(str(p))
    r = nbw("scan", "--format", "jsonl", *files)
    recs = jsonl(r.stdout)
    assert [x["path"] for x in recs] == files
    assert [x["verdict"] for x in recs] == ["allow", "allow", "flag", "allow"]
    assert recs[1]["error"] and recs[3]["error"] and recs[2]["error"] is None
    assert recs[2]["categories"][0]["id"] == "mining"
    f = recs[2]["findings"][0]
    assert {"rule_id", "category", "confidence", "evidence", "explanation", "content_hash"} <= set(f)
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["human", "jsonl", "sarif"])
def test_lone_surrogates_in_code_and_file_names_reach_every_output(tmp_path, fmt):
    """A "\\ud800" literal in scanned code and a file name with a byte that is not UTF-8
    (Python sees both as lone surrogates) once made the JSON writer, RE2 and the terminal
    fail for the whole batch. Now both files are reported, flagged, in every format."""
    code = 'import os\nos.system("./xmrig -o stratum+tcp://pool.example.net:3333 -u w \\ud800")\n'
    (tmp_path / "literal.py").write_text(code)
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.py"), "w") as f:
        f.write(code)
    r = nbw("scan", "--format", fmt, str(tmp_path))
    assert r.returncode == 1, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    if fmt == "jsonl":
        recs = jsonl(r.stdout)
        assert len(recs) == 2 and all(x["verdict"] == "flag" and x["error"] is None for x in recs)
        assert any("\\udcff" in x["path"] for x in recs)
    elif fmt == "sarif":
        assert len(json.loads(r.stdout)["runs"][0]["results"]) >= 2
    else:
        assert r.stdout.count("FLAG") == 2


def test_examples_flag_exactly_the_disallowed_folder():
    recs = jsonl(nbw("scan", "--format", "jsonl", str(EXAMPLES)).stdout)
    assert recs, "examples were scanned"
    for x in recs:
        assert x["error"] is None, x
        expect = "flag" if "/disallowed/" in x["path"] else "allow"
        assert x["verdict"] == expect, (x["path"], [f["rule_id"] for f in x["findings"]])


def test_stdin_and_jobs_give_the_same_answers(tmp_path):
    r = nbw("scan", "--format", "jsonl", "-", stdin="import os\nos.system('./xmrig -o stratum+tcp://p.example:3333 -u w')\n")
    assert jsonl(r.stdout)[0]["verdict"] == "flag"
    one = jsonl(nbw("scan", "--format", "jsonl", str(EXAMPLES)).stdout)
    two = jsonl(nbw("scan", "--format", "jsonl", "--jobs", "2", str(EXAMPLES)).stdout)
    assert one == two


def test_ignore_file_and_skipped_folders(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.py").write_text("import os\nos.system('./xmrig -o stratum+tcp://p.example:3333')")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "y.sh").write_text("./xmrig -o stratum+tcp://p.example:3333")
    (tmp_path / "keep.sh").write_text("echo hi")
    (tmp_path / ".nbwardenignore").write_text("# third-party code\nvendor/\n")
    paths = [x["path"] for x in jsonl(nbw("scan", "--format", "jsonl", str(tmp_path)).stdout)]
    assert paths == [str(tmp_path / "keep.sh")]


def test_human_output_explains_with_evidence():
    r = nbw("scan", "--color", "never", str(EXAMPLES / "disallowed" / "hidden_miner.py"))
    assert r.returncode == 1
    assert "mining" in r.stdout and "decoded" in r.stdout and "line 4" in r.stdout


def test_sarif_validates_against_the_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
    schema_path = ROOT / ".cache" / "sarif-schema-2.1.0.json"
    if not schema_path.is_file():
        pytest.skip("SARIF schema not present: scripts/install.sh fetches it from the npm registry")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{oops")
    r = nbw("scan", "--format", "sarif", str(EXAMPLES), str(bad))
    doc = json.loads(r.stdout)
    jsonschema.Draft7Validator(json.loads(schema_path.read_text())).validate(doc)
    run = doc["runs"][0]
    assert run["results"] and all(res["partialFingerprints"] for res in run["results"])
    assert run["invocations"][0]["toolExecutionNotifications"], "the unreadable file is reported"


def test_rules_and_policy_commands():
    assert "NBW201" in nbw("rules", "list").stdout
    show = nbw("rules", "show", "NBW203")
    assert show.returncode == 0 and "Evasions" in show.stdout
    assert nbw("rules", "show", "NBW999").returncode == 2
    assert nbw("rules", "test").returncode == 0
    table = nbw("policy", "show").stdout
    assert "mining" in table and "terminate" in table and "free" in table


def test_bad_rule_pack_and_policy_give_one_clear_line(tmp_path):
    pack = tmp_path / "mypack"
    pack.mkdir()
    (pack / "rules.yaml").write_text("rules:\n  - id: NBW9001\n    title: x\n    colour: red\n")
    r = nbw("scan", "--rules", str(pack), str(EXAMPLES))
    assert r.returncode == 2 and "unknown key(s) colour" in r.stderr and "Traceback" not in r.stderr
    pol = tmp_path / "p.yaml"
    pol.write_text("tiers: [free]\nactions:\n  mining: {free: explode}\n")
    r = nbw("scan", "--policy", str(pol), str(EXAMPLES))
    assert r.returncode == 2 and "'explode' is not one of" in r.stderr


def test_outside_rule_pack_folder(tmp_path):
    pack = tmp_path / "operator"
    pack.mkdir()
    (pack / "rules.yaml").write_text("""pack: operator
rules:
  - id: NBW9001
    title: Internal crawler
    category: filehosting
    severity: medium
    confidence: 0.9
    maturity: sandbox
    description: Our cluster forbids the internal crawler.
    explanation: This runs the internal crawler, which this cluster does not allow.
    evasions: Renaming it.
    false_positives: None known.
    when: {program: [crawlr]}
""")
    target = tmp_path / "t.sh"
    target.write_text("crawlr --all\n")
    r = nbw("scan", "--format", "jsonl", "--rules", str(pack), str(target))
    assert jsonl(r.stdout)[0]["findings"][0]["rule_id"] == "NBW9001"
