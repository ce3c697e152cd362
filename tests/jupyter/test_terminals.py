"""Terminal websockets: lines checked on Enter; terminals closed on tiers that forbid them."""
from __future__ import annotations

import json
import time
import uuid

import websocket


def open_terminal(server):
    status, term = server.request("POST", "/api/terminals", {})
    assert status == 200, term
    url = server.url.replace("http", "ws") + f"/terminals/websocket/{term['name']}"
    return term["name"], websocket.create_connection(url, header=[f"Authorization: token {server.token}"], timeout=20)


def read_until(ws, needle: str, timeout: float = 20) -> str:
    out, deadline = "", time.monotonic() + timeout
    while needle not in out:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if msg[0] == "stdout":
            out += msg[1]
        if time.monotonic() > deadline:
            break
    return out


def test_terminal_line_is_checked_on_enter(server, tier):
    tier("blockme")
    name, ws = open_terminal(server)
    marker = server.root / f"term-{uuid.uuid4().hex}"
    try:
        ws.send(json.dumps(["stdin", "echo nbw-ok-$((40+2))\r"]))
        assert "nbw-ok-42" in read_until(ws, "nbw-ok-42")
        # typed in pieces, with a typo fixed by backspace, the way a person types
        for piece in (f"touch {marker}; ./xmrig -o stratum+tcp://pool.example.net:3333 -u W --donate-levex",
                      "\x7fl 1", "\r"):
            ws.send(json.dumps(["stdin", piece]))
        assert "[nbwarden]" in read_until(ws, "[nbwarden]")
        ws.send(json.dumps(["stdin", "echo after-$((1+1))\r"]))
        assert "after-2" in read_until(ws, "after-2")
    finally:
        ws.close()
        server.request("DELETE", f"/api/terminals/{name}")
    assert not marker.exists()
    blocked = lambda e: e["outcome"] == "blocked" and e["kernel"] == f"terminal:{name}"  # noqa: E731
    assert any(blocked(e) for e in server.events(until=blocked))


def test_terminals_closed_on_a_tier_that_forbids_them(server, tier):
    tier("killme")  # this server sets disable_terminals_for_tiers = ["killme"]
    name, ws = open_terminal(server)
    try:
        text = read_until(ws, "not available")
        assert "Terminals are not available on the killme tier" in text
        ws.settimeout(10)
        try:
            while True:
                ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            pass
    finally:
        ws.close()
        server.request("DELETE", f"/api/terminals/{name}")
