"""The renamed miner: a copy of Python run from /dev/shm under a hidden name, holding a TCP
connection to a fake pool on 127.0.0.1 and burning CPU. It must be found, reported, and
(only when enforcing) stopped or terminated."""
from __future__ import annotations

from nbwarden.policy import Policy
from nbwarden.policy.model import DEFAULT_POLICY
from watchkit import WALLET, burn_code, renamed_env, state_of, tick_until, wait_dead


def start_miner(spawn, exe, pool, *, busy=True):
    argv = [exe, "-c", burn_code(pool.port, busy=busy), "-o", f"stratum+tcp://127.0.0.1:{pool.port}",
            "-u", WALLET, "-p", "x", "--donate-level", "1"]
    p = spawn(argv, env=renamed_env())
    assert pool.connected.wait(10), "the miner never connected to the fake pool"
    return p


def test_renamed_miner_reported_not_touched_without_enforce(spawn, renamed_python, pool, make_watcher, events):
    miner = start_miner(spawn, renamed_python, pool)
    w = make_watcher([miner.pid])
    assert tick_until(w, lambda: w.verdicts, 10)
    v = w.verdicts[0]
    assert v.proc.pid == miner.pid and v.flagged
    assert v.decision.category == "mining" and v.decision.action == "terminate"
    rules = {f.rule_id for f in v.decision.findings}
    assert {"NBW201", "NBW203"} <= rules
    facts = {e.fact for f in v.decision.findings for e in f.evidence}
    assert "exe: runs from a temporary folder (/dev/shm); hidden file name" in facts
    assert v.result.outcome == "reported" and "--enforce" in v.result.did[0]
    assert miner.poll() is None, "report mode must not touch the process"
    ev = events.recent()[0]
    assert ev.source == "watcher" and ev.outcome == "reported" and ev.category == "mining"
    assert not ev.counts_against_user


def test_renamed_miner_terminated_with_enforce(spawn, renamed_python, pool, make_watcher, events):
    miner = start_miner(spawn, renamed_python, pool)
    w = make_watcher([miner.pid], enforce=True)
    assert tick_until(w, lambda: w.verdicts, 10)
    v = w.verdicts[0]
    assert v.result.outcome == "terminated", v.result.did
    assert any(d.startswith(f"SIGTERM pid {miner.pid}") for d in v.result.did)
    assert wait_dead(miner), "the miner survived termination"
    # the pool connection it held was seen and tied to its own command line
    facts = {e.fact for f in v.decision.findings for e in f.evidence}
    assert "connection: to the endpoint its own command line names" in facts
    ev = events.recent()[0]
    assert ev.outcome == "terminated" and ev.attribution == "user" and ev.counts_against_user
    assert ev.detail["pid"] == miner.pid and ev.detail["exe"] == renamed_python
    assert f"The process (pid {miner.pid}) was stopped" in v.message and "mining" in v.message


def test_block_policy_stops_pending_review(spawn, renamed_python, pool, make_watcher, tmp_path):
    doc = DEFAULT_POLICY.read_text().replace("mining:               {free: terminate",
                                              "mining:               {free: block")
    assert "{free: block, pro: terminate" in doc
    (tmp_path / "p.yaml").write_text(doc)
    miner = start_miner(spawn, renamed_python, pool)
    w = make_watcher([miner.pid], enforce=True, policy=Policy.load(tmp_path / "p.yaml"))
    assert tick_until(w, lambda: w.verdicts, 10)
    v = w.verdicts[0]
    assert v.decision.action == "block" and v.result.outcome == "stopped", v.result.did
    assert state_of(miner.pid) in ("T", "t"), "a blocked process is stopped, pending review"
    assert miner.poll() is None


def test_hidden_miner_without_telltale_command_line(spawn, renamed_python, pool_on_pool_port, make_watcher):
    """No stratum URL, no wallet: only where it runs from, the CPU it burns and the pool port
    it holds. CPU alone never flags; with the hidden executable and the held connection it
    makes the hidden-miner finding (NBW901)."""
    code = burn_code(pool_on_pool_port.port)
    p = spawn([renamed_python, "-c", code], env=renamed_env())
    assert pool_on_pool_port.connected.wait(10)
    # "busy" set low (10% of a core): the shared test machine may give the burner little CPU
    w = make_watcher([p.pid], cpu_busy=10.0)
    w.tick()
    proc = w.procs[p.pid]
    assert {f.rule_id for f in proc.latest} == {"NBW902"} and not w.verdicts, "one tick: no CPU window yet"
    assert tick_until(w, lambda: "NBW901" in {f.rule_id for f in proc.latest}, 10)
    assert w.verdicts and w.verdicts[0].decision.category == "mining"
    hidden = next(f for f in proc.latest if f.rule_id == "NBW901")
    facts = {e.fact for e in hidden.evidence}
    assert any(f.startswith("cpu: sustained") for f in facts), facts
    assert hidden.confidence >= Policy.load().threshold


def test_cli_once_and_long_running(spawn, renamed_python, pool, tmp_path):
    import json
    import subprocess
    import sys

    miner = start_miner(spawn, renamed_python, pool)
    nbw = [sys.executable, "-m", "nbwarden", "watch", "--root-pid", str(miner.pid), "--events",
           str(tmp_path / "ev.sqlite")]
    r = subprocess.run(nbw + ["--once", "--format", "jsonl", "--interval", "0.3"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["pid"] for x in rows] == [miner.pid]
    assert rows[0]["category"] == "mining" and rows[0]["outcome"] == "reported" and miner.poll() is None
    r = subprocess.run(nbw + ["--interval", "0.3", "--duration", "3", "--enforce"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "FLAG" in r.stdout and f"pid {miner.pid}" in r.stdout and "SIGTERM" in r.stdout
    assert wait_dead(miner)
    r = subprocess.run(nbw[:4] + ["--root-pid", "999999999", "--once"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no such process" in r.stderr and "Traceback" not in r.stderr


def test_nbwarden_module_runs():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "nbwarden", "watch", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--enforce" in r.stdout and "--node" in r.stdout
