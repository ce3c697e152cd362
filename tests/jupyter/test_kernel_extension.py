"""The IPython kernel extension, loaded into a real ipykernel behind the real server."""
from __future__ import annotations

from conftest import MINER

_SECRET = [c ^ 7 for c in b"stratum+tcp://pool.example.net:3333"]  # XOR: no static reader decodes it
HIDDEN_MINER = f"""import subprocess
url = bytes(c ^ 7 for c in {_SECRET!r}).decode()
subprocess.run(['true', '-o', url, '-u', 'W', '--threads', '1'])
"""
_SOURCE = [c ^ 7 for c in b"pool = 'stratum+tcp://pool.example.net:3333'"]
HIDDEN_EXEC = f"exec(bytes(c ^ 7 for c in {_SOURCE!r}).decode())"


def wait_for(server, predicate, timeout=10):
    return [e for e in server.events(until=predicate, timeout=timeout) if predicate(e)]


def test_kernel_extension_rejects_and_audits(server, fresh_kernel, marker, tier):
    tier("logme")  # the server only logs; the kernel extension's own tier (NBWARDEN_TIER) is blockme
    k = server.kernel(fresh_kernel)
    try:
        assert k.run("%load_ext nbwarden.kernel")["reply"]["content"]["status"] == "ok"
        assert k.run("x = sum(range(10))\nprint(x)")["stream"] == "45\n"

        r = k.run(marker.code() + "\n" + MINER)
        assert r["reply"]["content"]["status"] == "error"
        assert r["reply"]["content"]["ename"] == "InputRejected"
        assert "cryptocurrency mining" in r["reply"]["content"]["evalue"]
        assert not marker.exists()

        # code the static check cannot read: the audit hook sees the process it starts
        hidden = k.run(HIDDEN_MINER)
        assert hidden["reply"]["content"]["status"] == "ok"
        assert k.run(HIDDEN_EXEC)["reply"]["content"]["status"] == "ok"
    finally:
        k.close()
    assert wait_for(server, lambda e: e["source"] == "kernel" and e["outcome"] == "blocked"
                    and e["kernel"] == fresh_kernel)
    seen = wait_for(server, lambda e: e["source"] == "kernel" and e["outcome"] == "reported"
                    and e["detail"].get("event") == "subprocess.Popen" and e["kernel"] == fresh_kernel)
    assert seen and "stratum+tcp://pool.example.net:3333" in seen[0]["detail"]["text"]
    assert "mining" == seen[0]["category"]
    decoded = wait_for(server, lambda e: e["source"] == "kernel" and e["detail"].get("event") == "compile"
                       and e["kernel"] == fresh_kernel)
    assert decoded and "stratum+tcp://pool.example.net:3333" in decoded[0]["detail"]["text"]


def test_a_refusal_through_the_kernel_is_not_refused_or_reported_again(server, fresh_kernel):
    """The server refuses a cell (blockme tier) and sends the kernel only the line that
    raises the refusal; the kernel extension, loaded, must let that line run (its message
    and evidence travel in metadata, not in code) and report nothing of its own."""
    k = server.kernel(fresh_kernel)
    try:
        assert k.run("%load_ext nbwarden.kernel")["reply"]["content"]["status"] == "ok"
        r = k.run(MINER)
        after = k.run("print('alive')")
    finally:
        k.close()
    assert r["reply"]["content"]["ename"] == "PolicyViolation", r["reply"]["content"]
    assert "cryptocurrency mining" in r["reply"]["content"]["evalue"]
    assert "alive" in after["stream"]
    assert wait_for(server, lambda e: e["source"] == "jupyter" and e["kernel"] == fresh_kernel
                    and e["outcome"] == "blocked")
    from_kernel = [e for e in server.events(timeout=2) if e["source"] == "kernel" and e["kernel"] == fresh_kernel
                   and e["outcome"] in ("blocked", "reported")]
    assert not from_kernel, from_kernel


def test_kernel_extension_reads_cells_with_their_notebooks_location(server, tier):
    """The kernel learns its notebook from JPY_SESSION_NAME (set when the server starts a
    kernel for a session) and checks its cells with that ``location``, as the server's
    check and a scan of the notebook do (rules weigh where code lives)."""
    tier("logme")
    (server.root / "FaceForensics").mkdir(exist_ok=True)
    status, session = server.request("POST", "/api/sessions", {
        "path": "FaceForensics/kx.ipynb", "type": "notebook", "name": "kx.ipynb", "kernel": {"name": "python3"}})
    assert status == 201, session
    k = server.kernel(session["kernel"]["id"])
    try:
        assert k.run("%load_ext nbwarden.kernel")["reply"]["content"]["status"] == "ok"
        shown = k.run("import IPython\nt = [x for x in IPython.get_ipython().ast_transformers "
                      "if type(x).__name__ == 'PolicyTransformer'][0]\nprint(t.settings.location, '|', t._context.location)")
    finally:
        k.close()
        server.request("DELETE", f"/api/sessions/{session['id']}")
    settings_location, context_location = (part.strip() for part in shown["stream"].split("|"))
    assert settings_location.endswith("FaceForensics/kx.ipynb") and context_location == settings_location

