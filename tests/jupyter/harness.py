"""A real Jupyter server in a subprocess on a free port with a random token, a REST client,
and a kernel websocket client speaking either protocol. Shared by the tests and the bench."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import websocket  # websocket-client, a dependency of jupyter_server

V1 = "v1.kernel.websocket.jupyter.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``with JupyterServer(...) as srv:`` starts ``jupyter server`` and stops it (and its
    kernels) on exit. ``extension=False`` runs the same server without nbwarden."""

    def __init__(self, *, extension: bool = True, config: str = "", args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, root: Path | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="nbw-jupyter-"))
        self.root = root or self.tmp / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = self.tmp / "nbwarden"
        exts = {"nbwarden.jupyter": extension, "jupyterlab": False, "jupyter_lsp": False,
                "notebook_shim": False}
        cfg = self.tmp / "jupyter_server_config.py"
        cfg.write_text(f"c.ServerApp.jpserver_extensions.update({exts!r})\n{config}\n")
        self.argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--config={cfg}",
                     f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                     f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                     *args]
        e = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "NBWARDEN_", "JUPYTER_"))}
        e.update(JUPYTER_CONFIG_DIR=str(self.tmp / "cfg"), JUPYTER_DATA_DIR=str(self.tmp / "data"),
                 JUPYTER_RUNTIME_DIR=str(self.tmp / "rt"), IPYTHONDIR=str(self.tmp / "ipython"),
                 NBWARDEN_DATA_DIR=str(self.data_dir), PYTHONUNBUFFERED="1")
        e.update(env or {})
        self.env = e
        self.proc: subprocess.Popen | None = None
        self.log = self.tmp / "server.log"

    def __enter__(self) -> "JupyterServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self._logf, stderr=subprocess.STDOUT,
                                     cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log.read_text()[-4000:]}")
            try:
                self.request("GET", "/api/status")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter server did not start in {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                for k in self.request("GET", "/api/kernels")[1]:
                    self.request("DELETE", f"/api/kernels/{k['id']}")
            except Exception:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        if self.proc is not None:
            self._logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- REST -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, *, token: str | None = "default",
                raw: bytes | None = None) -> tuple[int, object]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"token {self.token if token == 'default' else token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode("utf-8", "replace")

    def start_kernel(self) -> str:
        status, k = self.request("POST", "/api/kernels", {"name": "python3"})
        assert status == 201, k
        return k["id"]

    def kernel(self, kernel_id: str, protocol: str = "v1") -> "KernelSocket":
        return KernelSocket(self, kernel_id, protocol)

    def events(self, until=None, timeout: float = 10) -> list[dict]:
        """Events in the local store, read straight from SQLite (newest first). With
        ``until``, wait (bounded) for an event it accepts: the server records a decision just
        after the client has its answer."""
        import sqlite3
        path = self.data_dir / "events.sqlite"
        deadline = time.monotonic() + timeout
        while True:
            rows = []
            if path.exists():
                db = sqlite3.connect(path)
                try:
                    rows = [json.loads(b) for (b,) in db.execute("SELECT body FROM events ORDER BY time DESC")]
                finally:
                    db.close()
            if until is None or any(until(e) for e in rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


class KernelSocket:
    """A kernel websocket client: ``execute(code)`` sends an execute_request and
    ``collect(msg_id)`` gathers its shell reply and iopub messages up to status idle."""

    def __init__(self, server: JupyterServer, kernel_id: str, protocol: str = "v1"):
        self.protocol = protocol
        self.session = uuid.uuid4().hex
        ws_url = server.url.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {server.token}"],
                                              subprotocols=[V1] if protocol == "v1" else None, timeout=30,
                                              sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
        if protocol == "v1":
            assert self.ws.subprotocol == V1
        self.inbox: list[dict] = []

    def close(self) -> None:
        self.ws.close()

    def header(self, msg_type: str) -> dict:
        return {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test", "session": self.session,
                "date": "2026-01-01T00:00:00.000000Z", "version": "5.3"}

    def encode(self, channel: str, header: dict, content: dict, metadata: dict | None = None) -> bytes | str:
        if self.protocol == "v1":
            parts = [json.dumps(x).encode() for x in (header, {}, metadata or {}, content)]
            ch = channel.encode()
            offsets = [8 * (1 + 1 + len(parts) + 1)]
            offsets.append(offsets[-1] + len(ch))
            for p in parts:
                offsets.append(offsets[-1] + len(p))
            return b"".join([len(offsets).to_bytes(8, "little"), *(o.to_bytes(8, "little") for o in offsets),
                             ch, *parts])
        return json.dumps({"channel": channel, "header": header, "parent_header": {}, "metadata": metadata or {},
                           "content": content, "buffers": []})

    def send(self, channel: str, msg_type: str, content: dict, metadata: dict | None = None) -> str:
        h = self.header(msg_type)
        self.send_frame(self.encode(channel, h, content, metadata))
        return h["msg_id"]

    def send_frame(self, frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def execute(self, code: str, metadata: dict | None = None, **content) -> str:
        c = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
             "allow_stdin": False, "stop_on_error": False, **content}
        return self.send("shell", "execute_request", c, metadata)

    def decode(self, frame) -> dict:
        if isinstance(frame, bytes) and self.protocol == "v1":
            n = int.from_bytes(frame[:8], "little")
            offs = [int.from_bytes(frame[8 * (i + 1): 8 * (i + 2)], "little") for i in range(n)]
            channel = frame[offs[0]:offs[1]].decode()
            parts = [frame[offs[i]:offs[i + 1]] for i in range(1, n - 1)]
            header, parent, metadata, content = (json.loads(p) for p in parts[:4])
            return {"channel": channel, "header": header, "parent_header": parent, "metadata": metadata,
                    "content": content, "msg_type": header["msg_type"]}
        msg = json.loads(frame)
        msg["msg_type"] = msg["header"]["msg_type"]
        return msg

    def recv(self, timeout: float = 30) -> dict:
        self.ws.settimeout(timeout)
        msg = self.decode(self.ws.recv())
        self.inbox.append(msg)
        return msg

    def collect(self, msg_id: str, timeout: float = 60) -> dict:
        """{"reply": shell reply, "iopub": [iopub messages for this request], "stream": text}."""
        deadline = time.monotonic() + timeout
        got = {"reply": None, "iopub": [], "stream": ""}
        idle = False
        for m in [m for m in self.inbox if m["parent_header"].get("msg_id") == msg_id]:
            self.inbox.remove(m)
            idle |= self._take(m, got)
        while not (idle and got["reply"] is not None):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete answer to {msg_id}: {got}")
            m = self.recv(left)
            if m["parent_header"].get("msg_id") == msg_id:
                self.inbox.remove(m)
                idle |= self._take(m, got)
        return got

    @staticmethod
    def _take(m: dict, got: dict) -> bool:
        if m["channel"] == "shell":
            got["reply"] = m
            return False
        if m["channel"] == "iopub":
            got["iopub"].append(m)
            if m["msg_type"] == "stream":
                got["stream"] += m["content"].get("text", "")
            return m["msg_type"] == "status" and m["content"].get("execution_state") == "idle"
        return False

    def run(self, code: str, **kw) -> dict:
        return self.collect(self.execute(code, **kw))
