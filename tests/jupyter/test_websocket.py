"""The pre-execution check over a real kernel websocket, in both protocols."""
from __future__ import annotations

import json
import time

import pytest
from conftest import MINER

PROTOCOLS = ["v1", "legacy"]


def refused(result: dict, msg_id: str | None = None) -> bool:
    """The answer of a refused cell: an error reply and busy, error, idle on iopub. A Python
    kernel sent the refusal in the cell's place also announces what it runs (execute_input):
    only the line raising PolicyViolation, never the refused code."""
    reply = result["reply"]
    shown = [m["content"]["code"] for m in result["iopub"] if m["msg_type"] == "execute_input"]
    from nbwarden.jupyter.messages import RAISE_REFUSAL
    if any(c != RAISE_REFUSAL for c in shown):
        return False
    types = [m["msg_type"] for m in result["iopub"] if m["msg_type"] != "execute_input"]
    states = [m["content"].get("execution_state") for m in result["iopub"] if m["msg_type"] == "status"]
    ok = reply["content"]["status"] == "error" and reply["content"]["ename"] == "PolicyViolation" \
        and types == ["status", "error", "status"] and states == ["busy", "idle"]
    if msg_id is not None:
        ok = ok and all(m["parent_header"]["msg_id"] == msg_id for m in [reply, *result["iopub"]])
    return ok


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_allowed_cell_runs(server, shared_kernel, marker, protocol):
    k = server.kernel(shared_kernel, protocol)
    try:
        r = k.run(marker.code() + "\nprint('hello from the kernel')")
    finally:
        k.close()
    assert r["reply"]["content"]["status"] == "ok"
    assert "hello from the kernel" in r["stream"]
    assert marker.read() == "ran"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_blocked_cell_never_reaches_kernel(server, shared_kernel, marker, protocol):
    k = server.kernel(shared_kernel, protocol)
    try:
        msg_id = k.execute(marker.code() + "\n" + MINER, stop_on_error=True)
        r = k.collect(msg_id)
        after = k.run("print('still alive')")  # the kernel and the connection carry on
    finally:
        k.close()
    assert refused(r, msg_id), r
    content = r["reply"]["content"]
    assert "cryptocurrency mining" in content["evalue"]
    text = "\n".join(content["traceback"])
    assert "NBW201" in text and "appeal" in text and "https://policy.test/nbwarden" in text
    assert next(m for m in r["iopub"] if m["msg_type"] == "error")["content"]["evalue"] == content["evalue"]
    assert not marker.exists()
    assert "still alive" in after["stream"]
    mine = lambda e: e["kernel"] == shared_kernel and e["outcome"] == "blocked"  # noqa: E731
    ev = next(e for e in server.events(until=mine) if mine(e))
    assert ev["source"] == "jupyter" and ev["category"] == "mining" and "NBW201" in ev["rules"]
    assert ev["tier"] == "blockme" and ev["user"] and len(ev["content_hash"]) == 64


def test_near_misses_run(server, fresh_kernel):
    """Every cell of the shipped near-miss demo runs on the strictest tier."""
    from nbwarden.jupyter.demo import demo_path
    nb = json.loads((demo_path() / "near-misses.ipynb").read_text())
    k = server.kernel(fresh_kernel)
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                r = k.run("".join(cell["source"]))
                assert r["reply"]["content"]["status"] == "ok", (cell["source"], r["reply"]["content"])
    finally:
        k.close()


def test_disallowed_demo_cells_are_refused(server, fresh_kernel):
    """Every code cell of the shipped disallowed demo is refused before it runs."""
    from nbwarden.jupyter.demo import demo_path
    nb = json.loads((demo_path() / "disallowed.ipynb").read_text())
    k = server.kernel(fresh_kernel)
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                msg_id = k.execute("".join(cell["source"]))
                assert refused(k.collect(msg_id), msg_id), cell["source"]
    finally:
        k.close()


def test_user_expressions_are_checked(server, shared_kernel):
    k = server.kernel(shared_kernel)
    try:
        msg_id = k.execute("x = 1", user_expressions={"y": "__import__('os').system('" + MINER[1:] + "')"})
        r = k.collect(msg_id)
    finally:
        k.close()
    assert refused(r, msg_id)


def test_order_is_kept_when_cells_queue(server, fresh_kernel, marker):
    """A large cell is checked off the event loop; everything behind it waits, so the
    kernel sees the client's order, and a refused cell among them changes nothing else."""
    big = marker.code("B") + "\n" + "# padding\n" * 20_000  # > inline_check_bytes: queued
    k = server.kernel(fresh_kernel)
    try:
        ids = [k.execute(marker.code("A")), k.execute(big), k.execute(MINER), k.execute(marker.code("D")),
               k.execute("print('E')")]
        results = [k.collect(i) for i in ids]
    finally:
        k.close()
    assert marker.read() == "ABD"
    assert refused(results[2], ids[2])
    counts = [r["reply"]["content"]["execution_count"] for i, r in enumerate(results) if i != 2]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert "E" in results[4]["stream"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_run_all_stops_at_a_refused_cell(server, fresh_kernel, marker, protocol):
    """"Run All" sends every cell at once with stop_on_error. The refusal comes in the
    kernel's order (after the slow cell before it) and the kernel aborts the cells queued
    behind it, as after any error; a cell sent afterwards runs, and so do the cells behind
    a refused one sent with stop_on_error false."""
    k = server.kernel(fresh_kernel, protocol)
    try:
        ids = [k.execute("import time; time.sleep(1); " + marker.code("A"), stop_on_error=True),
               k.execute(MINER, stop_on_error=True),
               k.execute(marker.code("C"), stop_on_error=True), k.execute("print('D')", stop_on_error=True)]
        results = [k.collect(i) for i in ids]
        later = k.run("print('after')")
        k.execute(MINER, stop_on_error=False)
        lenient = k.run(marker.code("E"))
    finally:
        k.close()
    assert results[0]["reply"]["content"]["status"] == "ok"
    assert refused(results[1], ids[1])
    assert [r["reply"]["content"]["status"] for r in results[2:]] == ["aborted", "aborted"]
    assert "after" in later["stream"] and lenient["reply"]["content"]["status"] == "ok"
    assert marker.read() == "AE", "the aborted cell never ran; the one behind a lenient refusal did"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_frames_do_not_break_the_connection(server, shared_kernel, protocol):
    k = server.kernel(shared_kernel, protocol)
    garbage = [b"", b"\x00" * 3, b"\xff" * 64, (2 ** 60).to_bytes(8, "little") + b"\x00" * 32,
               "{not json", "[1, 2]", json.dumps({"channel": "shell", "header": 5}),
               json.dumps({"channel": "nowhere", "header": {"msg_type": "x"}, "content": {}})]
    try:
        for frame in garbage:
            k.send_frame(frame)
        # a readable header with unreadable content gets a clear error, not a hang
        msg_id = k.send("shell", "execute_request", {"code": 5, "silent": False})
        r = k.collect(msg_id)
        after = k.run("print('still here')")
    finally:
        k.close()
    assert r["reply"]["content"]["ename"] == "PolicyViolation"
    assert "could not read this execute request" in r["reply"]["content"]["evalue"]
    assert "still here" in after["stream"]


def test_ten_megabyte_cell_gets_a_decision(server, fresh_kernel, marker):
    pad = "# " + "x" * 98 + "\n"
    body = pad * (10_000_000 // len(pad))
    k = server.kernel(fresh_kernel)
    try:
        t0 = time.monotonic()
        ok = k.run(marker.code("ok") + "\n" + body)
        bad_id = k.execute(body + MINER)
        bad = k.collect(bad_id)
        took = time.monotonic() - t0
        after = k.run("print('after')")
    finally:
        k.close()
    assert ok["reply"]["content"]["status"] == "ok" and marker.read() == "ok"
    assert refused(bad, bad_id)
    assert "after" in after["stream"]
    assert took < 60


def test_engine_error_fails_closed_when_configured(server, fresh_kernel, marker):
    """This server has on_engine_error = "closed" and max_cell_bytes = 11 MB."""
    k = server.kernel(fresh_kernel)
    try:
        msg_id = k.execute(marker.code() + "\n" + "# " + "x" * 12_000_000)
        r = k.collect(msg_id)
    finally:
        k.close()
    assert refused(r, msg_id)
    assert "could not check this cell" in r["reply"]["content"]["evalue"]
    assert not marker.exists()


def test_saved_file_run_with_percent_run_is_checked(server, shared_kernel, marker):
    """Code saved to a file and run with %run is read from the kernel's folder at check time."""
    name = f"helper_{marker.path.name}.py"
    body = marker.code() + "\nimport os\nos.system('./xmrig -o stratum+tcp://pool.example.net:3333 -u W -p x')\n"
    status, _ = server.request("PUT", f"/api/contents/{name}", {"type": "file", "format": "text", "content": body})
    assert status in (200, 201)
    k = server.kernel(shared_kernel)
    try:
        msg_id = k.execute(f"%run {name}")
        r = k.collect(msg_id)
    finally:
        k.close()
    assert refused(r, msg_id) and not marker.exists()
    assert f"{name} line 3: os.system(" in "\n".join(r["reply"]["content"]["traceback"])
    status, answer = server.request("POST", "/nbwarden/api/check", {"code": f"%run {name}", "kernel_id": shared_kernel})
    assert answer["action"] == "block"



def test_percent_run_after_percent_cd_reads_the_kernels_folder(server, fresh_kernel, marker):
    """%cd in one cell, %run in the next: the file is read from where the kernel is now."""
    sub = f"sub_{marker.path.name}"
    body = marker.code() + "\nimport os\nos.system('./xmrig -o stratum+tcp://pool.example.net:3333 -u W -p x')\n"
    assert server.request("PUT", f"/api/contents/{sub}", {"type": "directory"})[0] in (200, 201)
    assert server.request("PUT", f"/api/contents/{sub}/job.py",
                          {"type": "file", "format": "text", "content": body})[0] in (200, 201)
    k = server.kernel(fresh_kernel)
    try:
        moved = k.run(f"%cd {sub}")
        msg_id = k.execute("%run job.py")
        r = k.collect(msg_id)
    finally:
        k.close()
    assert moved["reply"]["content"]["status"] == "ok"
    assert refused(r, msg_id) and not marker.exists()
    assert "job.py line 3: os.system(" in "\n".join(r["reply"]["content"]["traceback"])

def test_a_cell_carries_its_notebooks_location(server, marker):
    """A cell checked for a kernel whose session is a notebook inside a detection
    benchmark's repository reads with the same ``location`` a scan of that notebook would:
    the name-level deepfake rule (NBW107: a face-swap repository named in a string) gives
    way there and nowhere else. The path is looked up per cell, so a rename counts at once."""
    from nbwarden.engine import Engine
    code = marker.code() + "\nrepo = 'https://github.com/s0md3v/roop'"
    for folder in ("FaceForensics", "notebooks"):
        (server.root / folder).mkdir(exist_ok=True)
    engine = Engine.default()
    nb = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                     "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": code}]}).encode()
    expected = {path: engine.scan_bytes(nb, path).verdict for path in ("FaceForensics/demo.ipynb", "notebooks/demo.ipynb")}
    assert expected == {"FaceForensics/demo.ipynb": "allow", "notebooks/demo.ipynb": "flag"}

    status, session = server.request("POST", "/api/sessions", {"path": "notebooks/demo.ipynb", "type": "notebook",
                                                               "name": "demo.ipynb", "kernel": {"name": "python3"}})
    assert status == 201, session
    kid = session["kernel"]["id"]
    k = server.kernel(kid)
    try:
        outside_id = k.execute(code)
        outside = k.collect(outside_id)
        status, _ = server.request("PATCH", f"/api/sessions/{session['id']}", {"path": "FaceForensics/demo.ipynb"})
        assert status == 200
        inside = k.run(code)
    finally:
        k.close()
        server.request("DELETE", f"/api/sessions/{session['id']}")
    assert refused(outside, outside_id) and "NBW107" in "\n".join(outside["reply"]["content"]["traceback"])
    assert inside["reply"]["content"]["status"] == "ok" and marker.read() == "ran"
    warned = lambda e: e["kernel"] == kid and e["outcome"] == "warned"  # noqa: E731
    ev = next(e for e in server.events(until=warned) if warned(e))
    assert ev["detail"]["path"] == "notebooks/demo.ipynb" and ev["rules"] == ["NBW107"]
