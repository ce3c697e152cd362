"""The REST contract the JupyterLab front end relies on."""
from __future__ import annotations

import time

from conftest import LADDER, MINER

CHECK_KEYS = {"action", "category", "category_name", "message", "findings", "consequence", "policy_url",
              "override_token"}


def test_check_returns_the_contract(server, shared_kernel, tier):
    tier("warnme")
    status, body = server.request("POST", "/nbwarden/api/check",
                                  {"code": MINER, "kernel_id": shared_kernel, "path": "a.ipynb", "cell_index": 0})
    assert status == 200 and set(body) == CHECK_KEYS
    assert body["action"] == "warn" and body["category"] == "mining"
    assert body["category_name"] == "cryptocurrency mining"
    assert "cryptocurrency mining" in body["message"]
    assert body["findings"] and {"rule_id", "confidence", "evidence", "content_hash"} <= set(body["findings"][0])
    assert body["policy_url"] == "https://policy.test/nbwarden"
    assert isinstance(body["override_token"], str)
    assert body["consequence"].removeprefix("If you run it anyway: ") in LADDER

    tier("blockme")
    _, blocked = server.request("POST", "/nbwarden/api/check", {"code": MINER, "kernel_id": shared_kernel})
    assert blocked["action"] == "block" and blocked["override_token"] is None and blocked["consequence"] in LADDER

    _, fine = server.request("POST", "/nbwarden/api/check", {"code": "print(1)", "kernel_id": None})
    assert fine == {"action": "allow", "category": None, "category_name": None, "findings": [], "consequence": "",
                    "policy_url": "https://policy.test/nbwarden", "override_token": None,
                    "message": fine["message"]}


def test_check_and_decision_refuse_bad_input(server):
    bad = [b"not json", b"[1]", b"{}", b'{"code": 5}', b'{"code": "x", "cell_index": "3"}',
           b'{"code": "x", "kernel_id": 7}', b'{"code": "x", "cell_index": true}']
    for raw in bad:
        status, body = server.request("POST", "/nbwarden/api/check", raw=raw)
        assert status == 400, (raw, status, body)
        assert body["message"], raw  # a reason the caller can show
    status, _ = server.request("POST", "/nbwarden/api/decision", {"code": "x", "decision": "maybe"})
    assert status == 400
    status, _ = server.request("GET", "/nbwarden/api/events?limit=many")
    assert status == 400
    for method, path, body in (("POST", "/nbwarden/api/check", {"code": "x"}), ("GET", "/nbwarden/api/policy", None),
                               ("GET", "/nbwarden/api/events", None)):
        assert server.request(method, path, body, token=None)[0] == 403
        assert server.request(method, path, body, token="wrong")[0] == 403


def test_decision_is_recorded_and_listed(server, shared_kernel):
    code = MINER + "  # cancelled one"
    status, body = server.request("POST", "/nbwarden/api/decision",
                                  {"kernel_id": shared_kernel, "code": code, "decision": "cancelled",
                                   "path": "x.ipynb"})
    assert status == 204 and body is None
    status, events = server.request("GET", "/nbwarden/api/events?limit=3")
    assert status == 200 and isinstance(events, list) and len(events) <= 3
    newest = events[0]
    assert newest["outcome"] == "cancelled" and newest["kernel"] == shared_kernel
    assert newest["detail"]["path"] == "x.ipynb" and newest["category"] == "mining"


def test_ran_anyway_is_counted_once(server, shared_kernel, tier):
    """The front end reports its choice and the cell arrives with the token: one strike."""
    tier("warnme")
    code = "!echo -o stratum+tcp://pool.example.net:3333 -u W --donate-level 1  # once"
    token = server.request("POST", "/nbwarden/api/check", {"code": code, "kernel_id": shared_kernel})[1]["override_token"]
    assert server.request("POST", "/nbwarden/api/decision", {"kernel_id": shared_kernel, "code": code,
                                                             "decision": "ran-anyway"})[0] == 204
    k = server.kernel(shared_kernel)
    try:
        assert k.run(code, metadata={"nbwarden": {"override": token}})["reply"]["content"]["status"] == "ok"
    finally:
        k.close()
    from nbwarden.jupyter.tokens import code_hash
    mine = lambda e: e["outcome"] == "ran-anyway" and e["content_hash"] == code_hash(code)  # noqa: E731
    time.sleep(0.5)  # the websocket's record comes just after the reply: give a duplicate time to appear
    same = [e for e in server.events(until=mine) if mine(e)]
    assert len(same) == 1


def test_policy_endpoint(server, tier):
    tier("warnme")
    status, body = server.request("GET", "/nbwarden/api/policy")
    assert status == 200
    assert body["url"] == "https://policy.test/nbwarden" and body["tier"] == "warnme"
    assert body["table"][0] == ["category", "blockme", "warnme", "killme", "logme"]
    assert ["mining", "block", "warn", "terminate", "log"] in body["table"]
    assert [s["consequence"] for s in body["ladder"]["steps"]] == list(LADDER)


def test_check_reads_the_kernels_notebook_location_from_the_server(server):
    """For a kernel with a session, /check uses the server's record of the notebook's path
    (as the websocket does), not the path the client sends; without a kernel, the client's."""
    code = "repo = 'https://github.com/s0md3v/roop'"
    (server.root / "FaceForensics").mkdir(exist_ok=True)
    status, session = server.request("POST", "/api/sessions", {"path": "FaceForensics/demo.ipynb", "type": "notebook",
                                                               "name": "demo.ipynb", "kernel": {"name": "python3"}})
    assert status == 201, session
    try:
        _, inside = server.request("POST", "/nbwarden/api/check",
                                   {"code": code, "kernel_id": session["kernel"]["id"], "path": "elsewhere.ipynb"})
    finally:
        server.request("DELETE", f"/api/sessions/{session['id']}")
    _, no_kernel = server.request("POST", "/nbwarden/api/check", {"code": code, "path": "FaceForensics/x.ipynb"})
    _, nowhere = server.request("POST", "/nbwarden/api/check", {"code": code, "path": "notebooks/x.ipynb"})
    assert inside["action"] == "allow" and no_kernel["action"] == "allow"
    assert nowhere["action"] == "warn" and nowhere["findings"][0]["rule_id"] == "NBW107"
