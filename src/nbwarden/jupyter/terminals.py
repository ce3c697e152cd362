"""Terminals: a second way code reaches the machine, beside kernels.

Two measures, both in the terminal websocket (``/terminals/websocket/<name>``):

* tiers listed in ``NbwardenConfig.disable_terminals_for_tiers`` get a one-line notice and
  a closed socket instead of a shell;
* otherwise each line is checked with the engine's command check when Enter is pressed,
  and a refused line is erased (Ctrl-E Ctrl-U) instead of run.

The second is best effort and says so in docs/jupyter.md: the server sees keystrokes, not
the shell's line editor, so history recall, tab completion and scripts written to files
escape it; the kernel extension and the runtime watcher are the layers that see what runs.
"""
from __future__ import annotations

import json

from jupyter_server_terminals.handlers import TermSocket

from .connection import SETTINGS_KEY
from .identity import user_name

_ERASE_LINE = "\x05\x15"  # end of line, then kill to start (readline, zsh, fish)
_CLEARS = {"\x03", "\x15", "\x04"}  # Ctrl-C, Ctrl-U, Ctrl-D: the line is gone
_MAX_LINE = 1 << 16


class GuardedTermSocket(TermSocket):
    def initialize(self, *args, **kwargs):
        super().initialize(*args, **kwargs)
        self._line: list[str] = []
        self._escape = False

    @property
    def _guard(self):
        return self.settings.get(SETTINGS_KEY)

    def open(self, url_component=None):
        guard = self._guard
        if guard is not None:
            tier = guard.tier_of(user_name(self))
            if tier in self.settings.get("nbwarden_terminals_disabled_for", ()):
                self.write_message(json.dumps(["stdout", f"\r\n[nbwarden] Terminals are not available on the "
                                                          f"{tier} tier. Policy: {guard.policy.url}\r\n"]))
                self.close(1008, "terminals disabled on this tier")
                return None
        return super().open(url_component)

    async def on_message(self, message):
        guard = self._guard
        if guard is None or not self.settings.get("nbwarden_check_terminal_commands", True):
            return await super().on_message(message)
        try:
            command = json.loads(message)
            is_stdin = isinstance(command, list) and len(command) == 2 and command[0] == "stdin" \
                and isinstance(command[1], str)
        except ValueError:
            is_stdin = False
        if not is_stdin:
            return await super().on_message(message)
        typed = []
        for ch in command[1]:
            if ch not in "\r\n":
                typed.append(ch)
                self._track(ch)
                continue
            if typed:
                await self._send("".join(typed))
                typed = []
            line, self._line = "".join(self._line).strip(), []
            verdict = guard.check_terminal_line(line, user=user_name(self), terminal=self.term_name) if line else None
            if verdict is not None and not verdict.run:
                await self._send(_ERASE_LINE)
                self.write_message(json.dumps(["stdout", f"\r\n\x1b[31m[nbwarden] {verdict.message}\x1b[0m\r\n"]))
                await self._send("\r")
                return None
            await self._send(ch)
        if typed:
            await self._send("".join(typed))
        return None

    def _track(self, ch: str) -> None:
        """Keep a copy of the line being typed: printable characters, backspace, clears."""
        if self._escape:  # skip an escape sequence (arrows, function keys) up to its final letter
            self._escape = not (ch.isalpha() or ch == "~")
            return
        if ch == "\x1b":
            self._escape = True
        elif ch in ("\x7f", "\x08"):
            if self._line:
                self._line.pop()
        elif ch in _CLEARS:
            self._line = []
        elif ch >= " " and len(self._line) < _MAX_LINE:
            self._line.append(ch)

    async def _send(self, text: str) -> None:
        await super().on_message(json.dumps(["stdin", text]))


def install(web_app) -> bool:
    """Swap Jupyter's terminal websocket handler for ours wherever it is routed."""
    return _swap(web_app.default_router) | _swap(web_app.wildcard_router)


def _swap(router) -> bool:
    done = False
    for rule in getattr(router, "rules", []):
        if rule.target is TermSocket:
            rule.target = GuardedTermSocket
            done = True
        elif hasattr(rule.target, "rules"):
            done |= _swap(rule.target)
    return done
