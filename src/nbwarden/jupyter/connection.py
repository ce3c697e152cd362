"""The kernel websocket connection that checks each cell before the kernel sees it.

Jupyter calls ``handle_incoming_message`` without awaiting it (an ``async def`` override
would silently never run), so the check is synchronous on the common path: control and
stdin frames pass at once; a shell frame passes at once unless it is an execute_request,
which is checked inline when small (tens to hundreds of microseconds). Large cells go to a
per-connection FIFO drained by one worker task that checks in a thread; while anything is
queued, every later shell frame queues behind it, so the kernel sees the client's order.
"""
from __future__ import annotations

import asyncio
import collections
import json

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado.websocket import WebSocketClosedError

from . import messages
from .guard import CellVerdict, Guard
from .identity import user_name
from .scripts import kernel_cwd
from .sessions import notebook_path

SETTINGS_KEY = "nbwarden_guard"
BROKEN_KEY = "nbwarden_broken"  # (message, fail_open) when the extension could not start


class GuardedKernelConnection(ZMQChannelsWebsocketConnection):
    """``ServerApp.kernel_websocket_connection_class`` with nbwarden's pre-execution check."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pending: collections.deque[messages.Incoming] = collections.deque()
        self._worker: asyncio.Future | None = None
        self._python_kernel: bool | None = None  # read from the kernel spec at the first refusal
        #: refusals sent through the kernel whose answer has not all reached the client:
        #: msg_id -> what is still to come ({"reply", "idle"})
        self._refusals_in_flight: dict[str, set[str]] = {}

    @property
    def guard(self) -> Guard | None:
        return self.websocket_handler.settings.get(SETTINGS_KEY)

    @property
    def _v1(self) -> bool:
        return self.subprotocol == messages.V1

    # -- entry point (synchronous by contract) -------------------------------------------------
    def handle_incoming_message(self, incoming_msg) -> None:
        try:
            self._incoming(incoming_msg)
        except Exception:  # a bad frame or a bug here must not close the user's kernel connection
            self.log.exception("nbwarden: could not handle a message from the client; dropped it")

    def _incoming(self, frame) -> None:
        if not self.channels:
            return
        guard = self.guard
        if guard is None:
            return self._without_guard(frame)
        try:
            m = messages.parse(frame, v1=self._v1)
        except messages.Malformed as e:
            self.log.warning("nbwarden: dropped a malformed message from the client on kernel %s: %s",
                             self.kernel_id, e)
            return
        if m.channel != "shell":
            return self._forward(m)
        if self._pending:
            return self._enqueue(m)
        if m.msg_type != "execute_request":
            return self._forward(m)
        if m.size() > guard.inline_check_bytes or guard.kernel_busy(self.kernel_id):
            return self._enqueue(m)
        self._act(m, self._check(m, self._notebook_path()))

    def _without_guard(self, frame) -> None:
        """The extension is linked but could not start (or is not loaded in this app)."""
        broken = self.websocket_handler.settings.get(BROKEN_KEY)
        if broken is None or broken[1]:  # not loaded, or configured to fail open: behave like Jupyter
            return super().handle_incoming_message(frame)
        try:
            m = messages.parse(frame, v1=self._v1)
        except messages.Malformed:
            return None
        if m.channel == "shell" and m.msg_type == "execute_request":
            return self._refuse(m, CellVerdict(False, "engine-error", "block", broken[0]))
        return self._forward(m)

    # -- the queue ---------------------------------------------------------------------------------
    def _enqueue(self, m: messages.Incoming) -> None:
        self._pending.append(m)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            m = self._pending[0]
            try:
                if m.msg_type == "execute_request":
                    verdict = await loop.run_in_executor(None, self._check, m, self._notebook_path())
                    if self.channels:
                        self._act(m, verdict)
                else:
                    self._forward(m)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("nbwarden: could not handle a queued message; dropped it")
            finally:
                if self._pending and self._pending[0] is m:
                    self._pending.popleft()

    def disconnect(self):
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._pending.clear()
        return super().disconnect()

    # -- deciding and acting -------------------------------------------------------------------------
    def _notebook_path(self) -> str | None:
        """This kernel's notebook, looked up per cell (a notebook can be renamed while its
        kernel runs); on the event loop, where the session manager's database lives."""
        return notebook_path(self.websocket_handler.settings.get("session_manager"), self.kernel_id)

    def _check(self, m: messages.Incoming, path: str | None) -> CellVerdict:
        try:
            content = m.content
            code = content.get("code")
            if not isinstance(code, str):
                raise messages.Malformed("its code is not a string")
            # user_expressions are evaluated by the kernel too: they are code, checked with the cell
            exprs = content.get("user_expressions") or {}
            if not isinstance(exprs, dict) or not all(isinstance(v, str) for v in exprs.values()):
                raise messages.Malformed("its user_expressions are not a map of strings")
        except messages.Malformed as e:
            self.log.warning("nbwarden: refused an unreadable execute_request on kernel %s: %s", self.kernel_id, e)
            return CellVerdict(False, "malformed", "block",
                               f"nbwarden could not read this execute request ({e}), so it was not run.")
        if exprs:
            code = code + "\n" + "\n".join(exprs.values())
        nb = m.metadata.get("nbwarden")
        override = nb.get("override") if isinstance(nb, dict) else None
        return self.guard.check_execute(kernel_id=self.kernel_id, code=code, override=override, path=path,
                                        user=user_name(self.websocket_handler),
                                        cwd=kernel_cwd(self.kernel_manager, self.multi_kernel_manager.root_dir))

    def _act(self, m: messages.Incoming, verdict: CellVerdict) -> None:
        if verdict.run:
            self._forward(m)
        elif not verdict.terminate and self._kernel_raises():
            self._refuse_in_kernel(m, verdict)
        else:
            self._refuse(m, verdict)
        if verdict.events:  # the store's write (an fsync) stays off the event loop
            asyncio.get_running_loop().run_in_executor(None, self.guard.commit, verdict)
        if verdict.terminate:
            asyncio.ensure_future(self._terminate())

    def _kernel_raises(self) -> bool:
        """Whether a refusal can travel through this kernel (``refuse_through_kernel``): an
        ipykernel, which renders our traceback and aborts what is queued behind."""
        if self._python_kernel is None:
            try:
                spec = self.kernel_manager.kernel_spec
                self._python_kernel = bool(spec is not None and spec.language.lower() == "python"
                                           and any("ipykernel" in str(a) for a in spec.argv))
            except Exception:  # no spec to read: answer from the server, which works for any kernel
                self._python_kernel = False
        return self._python_kernel and self.guard is not None and self.guard.refuse_through_kernel

    def _refuse_in_kernel(self, m: messages.Incoming, verdict: CellVerdict) -> None:
        try:
            lines = messages.traceback_lines(verdict, self.guard.policy.url)
            raising = messages.raising_request(m, evalue=verdict.message, traceback=lines)
            # the kernel's answer is several small frames: without TCP_NODELAY, Nagle holds the
            # later ones for the client's delayed ACK (~40 ms); on until the answer is through
            if len(self._refusals_in_flight) > 64:  # answers that never came (a dead kernel)
                self._refusals_in_flight.clear()
            self._refusals_in_flight[m.header["msg_id"]] = {"reply", "idle"}
            self.websocket_handler.set_nodelay(True)
            self._forward(raising)
        except Exception:  # the refusal must arrive: from the server, then
            self.log.exception("nbwarden: could not send the refusal through the kernel; answering it here")
            self._refuse(m, verdict)

    def handle_outgoing_message(self, stream, outgoing_msg) -> None:
        """Jupyter's own, plus: TCP_NODELAY goes off again once the kernel's answer to every
        refusal sent through it (its execute_reply and its idle status) has been written."""
        answered = bool(self._refusals_in_flight) and self._answers_a_refusal(outgoing_msg)
        super().handle_outgoing_message(stream, outgoing_msg)
        if answered and not self._refusals_in_flight:
            self.websocket_handler.set_nodelay(False)

    def _answers_a_refusal(self, msg_list) -> bool:
        try:  # only the few parts looked at are read: outputs can be megabytes
            i = next(n for n, part in enumerate(msg_list) if len(part) == 9 and bytes(part) == b"<IDS|MSG>")
            header, parent = bytes(msg_list[i + 2]), bytes(msg_list[i + 3])
            for msg_id, waiting in list(self._refusals_in_flight.items()):
                if msg_id.encode() not in parent:
                    continue
                if b'"execute_reply"' in header:
                    waiting.discard("reply")
                elif b'"status"' in header and b'"idle"' in bytes(msg_list[i + 5]):
                    waiting.discard("idle")
                if not waiting:
                    del self._refusals_in_flight[msg_id]
                return True
        except (StopIteration, ValueError, IndexError, TypeError):
            pass
        return False

    def _refuse(self, m: messages.Incoming, verdict: CellVerdict) -> None:
        lines = messages.traceback_lines(verdict, self.guard.policy.url if self.guard else None)
        # four small frames in a row: without TCP_NODELAY, Nagle holds the later ones until the
        # client acknowledges the first (tens of milliseconds with delayed ACKs)
        self.websocket_handler.set_nodelay(True)
        try:
            for data, binary in messages.refusal_frames(self.session, m.header, evalue=verdict.message,
                                                        traceback=lines, v1=self._v1):
                self.write_message(data, binary=binary)
        except WebSocketClosedError:
            pass
        finally:
            self.websocket_handler.set_nodelay(False)

    async def _terminate(self) -> None:
        kid = self.kernel_id
        self.log.warning("nbwarden: stopping kernel %s (policy action terminate)", kid)
        try:
            await ensure_async(self.multi_kernel_manager.shutdown_kernel(kid))
        except Exception:
            self.log.exception("nbwarden: could not stop kernel %s", kid)

    def _forward(self, m: messages.Incoming) -> None:
        """Send a client message on to the kernel, as Jupyter's own connection does."""
        stream = self.channels.get(m.channel)
        if stream is None:
            self.log.warning("nbwarden: no such channel %r; dropped the message", m.channel)
            return
        allowed = self.multi_kernel_manager.allowed_message_types
        if allowed:
            header = m.header if m.header is not None else json.loads(m.parts[0])
            if header.get("msg_type") not in allowed:
                self.log.warning('Received message of type "%s", which is not allowed. Ignoring.',
                                 header.get("msg_type"))
                return
        if m.parts is not None:
            self.session.send_raw(stream, m.parts)
        else:
            self.session.send(stream, m.msg)
