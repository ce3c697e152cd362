"""The decision core without a server: context memory, engine failures, the ladder."""
from __future__ import annotations

import time

import pytest
from conftest import LADDER, MINER, write_policy
from harness import JupyterServer

from nbwarden.engine import Engine
from nbwarden.jupyter.guard import Guard
from nbwarden.jupyter.tokens import OverrideTokens
from nbwarden.policy import Policy
from nbwarden.reporting import Reporter


@pytest.fixture
def make_guard(tmp_path):
    def make(engine=None, tier="blockme", **kw):
        return Guard(engine=engine or Engine.default(), policy=Policy.load(write_policy(tmp_path)),
                     reporter=Reporter.from_config(tmp_path / "events.sqlite"), tokens=OverrideTokens(),
                     tier=tier, **kw)
    return make


class RaisingEngine(Engine):
    """Fault injection: an engine whose cell check raises (the real one promises not to)."""

    def check_cell(self, *a, **kw):
        raise RuntimeError("injected fault")


class CountingEngine(Engine):
    """The real engine, counting the cells it is asked to check."""

    calls = 0

    def check_cell(self, *a, **kw):
        self.calls += 1
        return super().check_cell(*a, **kw)


def test_a_huge_cell_is_read_once(make_guard):
    """A cell over the engine's unit cap is checked by one engine call (the engine parses
    it in pieces), not read once whole and again piece by piece; padding still hides nothing."""
    engine = CountingEngine(Engine.default().rules)
    g = make_guard(engine=engine)
    pad = "# " + "x" * 98 + "\n"
    v = g.check_execute(kernel_id="k", code=pad * (10_000_000 // len(pad)) + MINER, user="ada")
    assert not v.run and v.outcome == "blocked"
    assert engine.calls == 1


def test_check_only_does_not_remember_and_refusals_are_forgotten(make_guard):
    g = make_guard()
    g.check_only(code="x = 1", kernel_id="k", user="ada")
    assert g.memory("k").context.cells == 0
    assert g.check_execute(kernel_id="k", code="x = 1", user="ada").run
    assert g.memory("k").context.cells == 1
    refused = g.check_execute(kernel_id="k", code=MINER, user="ada")
    assert not refused.run and refused.outcome == "blocked"
    assert g.memory("k").context.cells == 1  # the refused cell never ran: not part of the session


def test_a_refused_cells_shell_state_is_forgotten(make_guard):
    """A refused cell never ran, so its ``%env`` / ``export`` / ``chmod +x`` must not
    colour later cells: ``./tool -o $POOL`` is harmless unless POOL was really set."""
    g = make_guard()
    refused = g.check_execute(kernel_id="k", user="ada", code=(
        "%env POOL=stratum+tcp://pool.example.net:3333\n!export W=WALLET\n%cd /tmp\n!chmod +x tool\n" + MINER))
    assert not refused.run
    later = g.check_execute(kernel_id="k", code="!./tool -o $POOL -u $W", user="ada")
    assert later.run and later.outcome == "allowed"
    ctx = g.memory("k").context
    assert not ctx.shell.vars and not ctx.shell.chmodded
    # the same cells in a session where the first one ran: the second is a miner
    g2 = make_guard(tier="logme")
    assert g2.check_execute(kernel_id="k", code="%env POOL=stratum+tcp://pool.example.net:3333\n!chmod +x tool",
                            user="ada").run
    assert g2.check_execute(kernel_id="k", code="!./tool -o $POOL", user="ada").outcome == "logged"


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_engine_raising_follows_on_engine_error(make_guard, mode):
    base = Engine.default()
    g = make_guard(engine=RaisingEngine(base.rules), on_engine_error=mode)
    v = g.commit(g.check_execute(kernel_id="k", code="print(1)", user="ada"))
    assert v.run is (mode == "open") and v.outcome == "engine-error"
    if mode == "closed":
        assert "could not check this cell" in v.message
    answer = g.check_only(code="print(1)", kernel_id="k", user="ada")
    assert answer["action"] == ("allow" if mode == "open" else "block")
    ev = g.reporter.recent("ada")[0]
    assert ev.detail["engine_error"] == "internal error: RuntimeError" and not ev.counts_against_user


def test_consequence_climbs_with_strikes(make_guard):
    g = make_guard()
    seen = []
    for _ in range(3):
        seen.append(g.consequence("bob", "block"))
        g.commit(g.check_execute(kernel_id="k", code=MINER, user="bob"))  # a block is a strike
    assert seen == list(LADDER)
    assert g.consequence("bob", "allow") == ""


def test_tier_for_wins_and_bad_tiers_fall_back(make_guard):
    assert make_guard(tier="warnme").tier_of("x") == "warnme"
    assert make_guard(tier="nonsense").tier_of("x") == "blockme"
    assert make_guard(tier_for=lambda *, user, **kw: "logme" if user == "ada" else "").tier_of("ada") == "logme"
    assert make_guard(tier_for=lambda **kw: 1 / 0).tier_of("ada") == "blockme"


def test_fail_open_on_a_real_server(setup):
    """A real server with on_engine_error = "open" runs a cell it cannot check, and says so
    in the record (here: a cell over max_cell_bytes)."""
    config = setup.config(on_engine_error="open", max_cell_bytes=2000)
    with JupyterServer(config=config) as srv:
        kid = srv.start_kernel()
        path = srv.root / "ran"
        k = srv.kernel(kid)
        try:
            r = k.run(f"open({str(path)!r}, 'w').write('ran')\n" + "# " + "x" * 3000)
        finally:
            k.close()
        assert r["reply"]["content"]["status"] == "ok" and path.read_text() == "ran"
        ev = srv.events(until=lambda e: e["outcome"] == "logged")[0]
        assert ev["outcome"] == "logged" and ev["detail"]["on_engine_error"] == "open"
        assert "too large" in ev["detail"]["engine_error"]


def test_broken_policy_fails_closed_with_a_clear_message(setup, tmp_path):
    """A policy that does not load: the server starts, says why in its log, and (fail
    closed) answers every cell with that reason instead of running it unchecked."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [free]\nactions: {mining: {free: explode}}\n")
    config = f"c.NbwardenConfig.policy_path = {str(bad)!r}\nc.NbwardenConfig.on_engine_error = 'closed'\n"
    with JupyterServer(config=config) as srv:
        k = srv.kernel(srv.start_kernel())
        try:
            r = k.run("print('unchecked')")
        finally:
            k.close()
        log = srv.log.read_text()
    assert r["reply"]["content"]["ename"] == "PolicyViolation" and "unchecked" not in r["stream"]
    assert "nbwarden could not start" in r["reply"]["content"]["evalue"] and "explode" in r["reply"]["content"]["evalue"]
    assert "nbwarden could not start" in log


def test_refusals_answered_by_the_server_when_so_configured(setup):
    """refuse_through_kernel = False: the server answers a refused cell at once, even while
    the kernel is busy with the cell before it, and the cells behind it still run."""
    config = setup.config(refuse_through_kernel=False)
    with JupyterServer(config=config) as srv:
        k = srv.kernel(srv.start_kernel())
        path = srv.root / "behind"
        try:
            slow = k.execute("import time; time.sleep(2)", stop_on_error=True)
            started = time.monotonic()
            refused_id = k.execute(MINER, stop_on_error=True)
            refused = k.collect(refused_id)
            answered = time.monotonic() - started
            behind = k.run(f"open({str(path)!r}, 'w').write('ran')", stop_on_error=True)
            k.collect(slow)
        finally:
            k.close()
        ran = path.exists()
    assert refused["reply"]["content"]["ename"] == "PolicyViolation"
    assert not any(m["msg_type"] == "execute_input" for m in refused["iopub"]), "never sent to the kernel"
    assert answered < 1.5, f"answered after {answered:.2f} s: it waited for the busy kernel"
    assert behind["reply"]["content"]["status"] == "ok" and ran
