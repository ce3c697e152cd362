"""Actions other than block, and "Run anyway" tokens, over the real websocket and REST API."""
from __future__ import annotations

import time

from conftest import LADDER, MINER
from test_websocket import refused


def check(server, code, kernel_id=None):
    status, body = server.request("POST", "/nbwarden/api/check",
                                  {"code": code, "kernel_id": kernel_id, "path": "demo.ipynb", "cell_index": 3})
    assert status == 200, body
    return body


def test_warn_refuses_until_a_valid_token_comes_then_only_once(server, shared_kernel, marker, tier):
    tier("warnme")
    code = marker.code() + "\n" + MINER.replace("!./xmrig", "!echo")
    k = server.kernel(shared_kernel)
    try:
        plain = k.run(code)
        assert refused(plain) and "Run anyway" in "\n".join(plain["reply"]["content"]["traceback"])

        answer = check(server, code, shared_kernel)
        assert answer["action"] == "warn" and answer["override_token"]
        token = answer["override_token"]
        forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
        assert refused(k.run(code, metadata={"nbwarden": {"override": forged}}))
        assert refused(k.run(code, metadata={"nbwarden": {"override": "nbw1.1.2.3"}}))
        other = check(server, code + "\n# other", shared_kernel)["override_token"]
        assert refused(k.run(code, metadata={"nbwarden": {"override": other}}))  # token for other code
        assert not marker.exists()

        ran = k.run(code, metadata={"nbwarden": {"override": token}})
        assert ran["reply"]["content"]["status"] == "ok" and marker.read() == "ran"

        again = k.run(code, metadata={"nbwarden": {"override": token}})
        assert refused(again) and "already used" in again["reply"]["content"]["evalue"]
        assert marker.read() == "ran"
    finally:
        k.close()
    ours = lambda e: e["kernel"] == shared_kernel  # noqa: E731
    events = server.events(until=lambda e: ours(e) and e["outcome"] == "warned" and
                           e["detail"].get("override_refused", "").startswith("the override token was already"))
    outcomes = [e["outcome"] for e in events if ours(e)]
    assert outcomes.count("ran-anyway") == 1 and "warned" in outcomes


def test_token_from_a_warning_does_not_open_a_block(server, shared_kernel, marker, tier):
    tier("warnme")
    code = marker.code() + "\n" + MINER
    token = check(server, code, shared_kernel)["override_token"]
    tier("blockme")
    assert check(server, code, shared_kernel)["override_token"] is None
    k = server.kernel(shared_kernel)
    try:
        r = k.run(code, metadata={"nbwarden": {"override": token}})
    finally:
        k.close()
    assert refused(r) and "cannot be overridden" in r["reply"]["content"]["evalue"]
    assert not marker.exists()


def test_expired_token_is_refused(setup):
    from nbwarden.jupyter.tokens import OverrideTokens, code_hash
    now = [1000.0]
    tokens = OverrideTokens(b"k" * 32, ttl=10, clock=lambda: now[0])
    t = tokens.issue("kern", code_hash("x"))
    now[0] += 11
    assert tokens.redeem(t, "kern", code_hash("x"))[0] is None
    assert "expired" in tokens.redeem(t, "kern", code_hash("x"))[1]
    assert OverrideTokens(b"other" * 8).redeem(tokens.issue("kern", code_hash("x")), "kern", code_hash("x"))[0] is None


def test_terminate_refuses_and_stops_the_kernel(server, fresh_kernel, marker, tier):
    tier("killme")
    k = server.kernel(fresh_kernel)
    try:
        r = k.run(marker.code() + "\n" + MINER)
    finally:
        k.close()
    assert refused(r) and not marker.exists()
    deadline = time.monotonic() + 20
    while server.request("GET", f"/api/kernels/{fresh_kernel}")[0] != 404:
        assert time.monotonic() < deadline, "kernel still running after terminate"
        time.sleep(0.2)
    done = lambda e: e["outcome"] == "terminated" and e["kernel"] == fresh_kernel  # noqa: E731
    assert any(done(e) for e in server.events(until=done))


def test_log_runs_and_records(server, fresh_kernel, marker, tier):
    tier("logme")
    k = server.kernel(fresh_kernel)
    try:
        r = k.run(marker.code() + "\npool = 'stratum+tcp://pool.example.net:3333'")
    finally:
        k.close()
    assert r["reply"]["content"]["status"] == "ok" and marker.read() == "ran"
    logged = lambda e: e["outcome"] == "logged" and e["kernel"] == fresh_kernel  # noqa: E731
    assert any(logged(e) for e in server.events(until=logged))


def test_consequence_follows_the_ladder(server, shared_kernel, tier):
    tier("blockme")
    answer = check(server, MINER, shared_kernel)
    assert answer["consequence"] in LADDER
    tier("warnme")
    answer = check(server, MINER, shared_kernel)
    assert answer["consequence"].startswith("If you run it anyway: ")
    assert answer["consequence"].removeprefix("If you run it anyway: ") in LADDER
