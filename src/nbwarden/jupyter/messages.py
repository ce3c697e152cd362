"""Reading client frames and writing the replies of a refused cell, in both kernel websocket
protocols: the legacy one (a JSON text frame with a ``channel`` key, or the old binary form
with buffers) and ``v1.kernel.websocket.jupyter.org`` (offsets, channel, then header,
parent_header, metadata, content, buffers as separate parts) that JupyterLab negotiates.

A frame is parsed only as far as needed: for v1 only the header of shell messages, and the
content and metadata of execute requests. Anything that does not parse raises ``Malformed``;
the connection drops that frame and keeps going.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

V1 = "v1.kernel.websocket.jupyter.org"
REFUSAL_KEY = "nbwarden_refusal"  # request metadata: [message, traceback lines] of a refusal
_MAX_PARTS = 1 << 16


class Malformed(ValueError):
    """A client frame that is not a kernel message."""


@dataclass
class Incoming:
    channel: str
    msg_type: str | None  # parsed for shell and control messages only
    header: dict[str, Any] | None
    msg: dict[str, Any] | None = None  # legacy: the whole message, sent on with Session.send
    parts: list[bytes] | None = None  # v1: the raw parts, sent on with Session.send_raw
    _content: dict[str, Any] | None = None
    _metadata: dict[str, Any] | None = None

    @property
    def content(self) -> dict[str, Any]:
        if self._content is None:
            raw = self.msg.get("content") if self.msg is not None else _load(self.parts[3], "content")
            if not isinstance(raw, dict):
                raise Malformed("content is not an object")
            self._content = raw
        return self._content

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            raw = self.msg.get("metadata") if self.msg is not None else _load(self.parts[2], "metadata")
            self._metadata = raw if isinstance(raw, dict) else {}
        return self._metadata

    def size(self) -> int:
        if self.parts is not None:
            return len(self.parts[3])
        code = self.content.get("code")
        return len(code) if isinstance(code, str) else 0


_HEADER_READ_FOR = ("shell", "control")  # channels whose header the guard reads; others pass untouched


def parse(frame: str | bytes, *, v1: bool) -> Incoming:
    if v1:
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise Malformed("text frame on the binary v1 protocol")
        frame = bytes(frame)
        if len(frame) < 16:
            raise Malformed("frame too short")
        n = int.from_bytes(frame[:8], "little")
        if not 2 <= n <= _MAX_PARTS or 8 * (n + 1) > len(frame):
            raise Malformed("bad offset count")
        offsets = [int.from_bytes(frame[8 * (i + 1): 8 * (i + 2)], "little") for i in range(n)]
        if offsets[0] != 8 * (n + 1) or any(b < a for a, b in zip(offsets, offsets[1:])) or offsets[-1] > len(frame):
            raise Malformed("bad offsets")
        try:
            channel, parts = deserialize_msg_from_ws_v1(frame)
        except (UnicodeDecodeError, ValueError) as e:
            raise Malformed(f"cannot split the frame: {e}") from None
        if channel not in _HEADER_READ_FOR:
            return Incoming(channel, None, None, parts=parts)
        if len(parts) < 4:
            raise Malformed("fewer than four message parts")
        header = _load(parts[0], "header")
        return Incoming(channel, _msg_type(header), header, parts=parts)
    try:
        if isinstance(frame, (bytes, bytearray)):
            msg = deserialize_binary_message(bytes(frame))
        else:
            msg = json.loads(frame)
    except Exception as e:  # json, struct, unicode and index errors all mean the same thing here
        raise Malformed(f"not a kernel message: {type(e).__name__}") from None
    if not isinstance(msg, dict):
        raise Malformed("not a JSON object")
    channel = msg.pop("channel", None) or "shell"
    if not isinstance(channel, str):
        raise Malformed("channel is not a string")
    header = msg.get("header")
    if not isinstance(header, dict):
        raise Malformed("no header")
    return Incoming(channel, _msg_type(header), header, msg=msg)


def _load(part: bytes, what: str) -> Any:
    try:
        return json.loads(part)
    except (ValueError, UnicodeDecodeError):
        raise Malformed(f"{what} is not JSON") from None


def _msg_type(header: Any) -> str:
    if not isinstance(header, dict) or not isinstance(header.get("msg_type"), str):
        raise Malformed("header has no msg_type")
    return header["msg_type"]


def frame(session, msg_type: str, content: dict[str, Any], parent: dict[str, Any], channel: str, *,
          v1: bool) -> tuple[str | bytes, bool]:
    """A server-made message as a websocket frame: (data, binary)."""
    msg = session.msg(msg_type, content, parent=parent)
    if v1:
        return serialize_msg_to_ws_v1(msg, channel, session.pack), True
    msg["channel"] = channel
    return json.dumps(msg, default=json_default), False


def refusal_frames(session, request_header: dict[str, Any], *, evalue: str, traceback: list[str],
                   v1: bool) -> list[tuple[str | bytes, bool]]:
    """What a refused cell gets so the client shows an error instead of hanging at [*]:
    iopub busy, error, idle, and a shell execute_reply with status error, all answering the
    request (parent_header = its header)."""
    err = {"ename": "PolicyViolation", "evalue": evalue, "traceback": traceback}
    return [
        frame(session, "status", {"execution_state": "busy"}, request_header, "iopub", v1=v1),
        frame(session, "error", dict(err), request_header, "iopub", v1=v1),
        frame(session, "status", {"execution_state": "idle"}, request_header, "iopub", v1=v1),
        frame(session, "execute_reply", {"status": "error", "execution_count": None, **err,
                                         "user_expressions": {}, "payload": []}, request_header, "shell", v1=v1),
    ]


#: What an ipykernel is sent in a refused request's place: it raises PolicyViolation with the
#: message and traceback lines that travel in the request's metadata, not in the code, so
#: nbwarden's own kernel extension (and anything else reading the code) sees no evidence
#: strings to flag again. No name is left in the user's namespace.
RAISE_REFUSAL = ('raise type("PolicyViolation", (Exception,), {"__str__": lambda self: self.args[0], '
                 '"_render_traceback_": lambda self: self.args[1]})'
                 f'(*get_ipython().kernel.get_parent("shell")["metadata"]["{REFUSAL_KEY}"])')


def raising_request(m: Incoming, *, evalue: str, traceback: list[str]) -> Incoming:
    """The refused execute request as the kernel is sent it instead: same header (so every
    reply answers the client's request), same ``stop_on_error``, nothing added to the
    history, and ``RAISE_REFUSAL`` as its code, whose traceback IPython renders as
    ``traceback`` (the ``_render_traceback_`` hook). The kernel then orders it and aborts
    what is queued behind it exactly as after any error."""
    stop = m.content.get("stop_on_error", True)
    content = {"code": RAISE_REFUSAL, "silent": False, "store_history": False, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": stop is not False}
    metadata = {**m.metadata, REFUSAL_KEY: [evalue, traceback]}
    if m.parts is not None:
        parts = list(m.parts[:4])
        parts[2] = json.dumps(metadata).encode()
        parts[3] = json.dumps(content).encode()
        return Incoming(m.channel, m.msg_type, m.header, parts=parts)
    return Incoming(m.channel, m.msg_type, m.header,
                    msg={**m.msg, "metadata": metadata, "content": content, "buffers": []})


_RED, _BOLD, _DIM, _RESET = "\x1b[0;31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


def traceback_lines(verdict, policy_url: str | None) -> list[str]:
    """Lines a plain client (classic notebook, nbclient, a terminal) shows readably: the
    message, each finding with its evidence, what happens next, and how to appeal."""
    lines = [f"{_RED}{_BOLD}PolicyViolation{_RESET}: {verdict.message}"]
    findings = verdict.decision.findings if verdict.decision else []
    for f in findings[:5]:
        lines.append(f"  {_BOLD}{f.rule_id}{_RESET} {f.title} (confidence {f.confidence:.2f})")
        shown = set()
        for e in f.evidence:
            key = (e.line, e.snippet.strip()[:160])
            if key in shown or len(shown) == 3:
                continue
            shown.add(key)
            where = f"line {e.line}" + (" (decoded from hidden code)" if e.deobfuscated else "")
            if e.file and not e.file.startswith("<"):  # a file the cell runs (%run, !bash x.sh)
                where = f"{e.file.rsplit('/', 1)[-1]} {where}"
            lines.append(f"    {where}: {key[1]}")
    if verdict.consequence:
        lines.append(verdict.consequence)
    if verdict.action == "warn":
        lines.append("To run it anyway, use \"Run anyway\" in JupyterLab with the nbwarden extension "
                     "(your choice is recorded).")
    elif verdict.action in ("block", "terminate") and policy_url and verdict.decision is not None:
        lines.append(f"If this is a mistake, appeal: {policy_url}")
    return lines
