"""IPython syntax, read the way IPython runs it, without IPython on the hot path.

A cell is split into plain Python (each ``!cmd`` / ``%magic`` line replaced by a harmless
statement of the same indentation, so line numbers stay true) plus the shell commands and
magics those lines stand for. ``%%bash`` / ``%%sh`` / ``%%script`` cells are shell as a
whole; ``%%writefile`` cells are the file they write. Only when the cheap rewrite still does
not parse is IPython's own TransformerManager tried (five times slower than ``ast.parse``).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_LINE_MAGIC = re.compile(r"^([ \t]*)(?:([\w.\[\], ]+?)\s*=\s*)?(!!?|%{1,2})(.*)$")
_CELL_SHELL = {"bash", "sh", "script", "shell", "system", "sx", "zsh"}
_LINE_SHELL = {"sx", "system"}
_INSTALLERS = {"pip", "pip3", "conda", "mamba", "uv"}


@dataclass
class Split:
    python: str | None  # the Python left once shell/magic lines are replaced; None = not Python
    shell: list[tuple[str, int]] = field(default_factory=list)  # (command text, line within cell)
    magics: list[tuple[str, str, int]] = field(default_factory=list)  # (name, args, line)
    files: list[tuple[str, str, int]] = field(default_factory=list)  # %%writefile (path, body, line)

    def _shifted(self, by: int) -> "Split":
        """Line numbers moved down by ``by`` (the body of a cell magic starts below it)."""
        self.shell = [(s, n + by) for s, n in self.shell]
        self.magics = [(a, b, n + by) for a, b, n in self.magics]
        self.files = [(a, b, n + by) for a, b, n in self.files]
        return self


#: Everything IPython's TransformerManager acts on: an escape (``! % , ; /``) starting a line
#: (the line breaks ``str.splitlines`` knows included), ``x = !cmd`` / ``x = %magic``, any ``?``
#: (``obj?``), prompts (``>>>``, ``In [1]:``, ``...:``). A superset: a match only means "look".
_MAYBE_IPYTHON = re.compile(r"(?:^|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])\s*[!%,;/]|=[\s\\]*[!%]|\?|>>>|In \[|\.\.\.:",
                            re.M)


def has_ipython_syntax(code: str) -> bool:
    """Is a cell that Python rejects worth reading the IPython way? Only if it holds ``!`` or
    ``%`` (shell escapes, magics) and something IPython transforms. When not, IPython's own
    transformation changes nothing that matters to the parser (it drops leading blank lines
    and blanks whitespace-only lines), so the cell would be rejected after it too: neither the
    rewrite nor IPython (five times ``ast.parse``) is tried. Besides the patterns above,
    IPython removes a common indentation, so an indented first line counts."""
    if "!" not in code and "%" not in code:
        return False
    if _MAYBE_IPYTHON.search(code):
        return True
    rest = code.lstrip()
    start = len(code) - len(rest)
    return bool(rest) and start > 0 and code[start - 1] in " \t"


#: Cell magics stacked on one cell (``%%time`` over ``%%capture`` over ...) that
#: ``split_cell`` unwraps; past it RecursionError ("code too deeply nested"). Explicit because
#: compiled code has no recursion limit: ``"%%time\n" * 200000`` would exhaust the C stack.
MAX_CELL_MAGICS = 100


def split_cell(code: str, depth: int = 0) -> Split:
    if depth > MAX_CELL_MAGICS:
        raise RecursionError(f"more than {MAX_CELL_MAGICS} cell magics stacked")
    first, _, rest = code.lstrip("\n").partition("\n")
    lead = len(code) - len(code.lstrip("\n"))
    if first.startswith("%%"):
        name, _, args = first[2:].strip().partition(" ")
        body_line = lead + 2
        if name in _CELL_SHELL:
            if name == "script" and args.strip() and not any(s in args for s in ("sh", "bash", "zsh")):
                if "python" in args:
                    return split_cell(rest, depth + 1)._shifted(1)
                return Split(None, magics=[(name, args, lead + 1)])
            return Split(None, shell=[(rest, body_line)], magics=[(name, args, lead + 1)])
        if name in ("writefile", "file"):
            path = args.replace("-a", "").strip().strip("'\"")
            return Split(None, files=[(path, rest, body_line)], magics=[(name, args, lead + 1)])
        if name in ("html", "javascript", "js", "markdown", "latex", "svg", "perl", "ruby", "R", "sql"):
            return Split(None, magics=[(name, args, lead + 1)])
        # %%time, %%capture, %%timeit ...: the body is Python run as usual
        inner = split_cell(rest, depth + 1)._shifted(lead + 1)
        inner.magics.insert(0, (name, args, lead + 1))
        if inner.python is not None:
            inner.python = "\n" * (lead + 1) + inner.python
        return inner
    out = Split(None)
    lines = code.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _LINE_MAGIC.match(line) if ("!" in line or "%" in line) else None
        if m is None or (m.group(2) and m.group(3).startswith("%%")):
            i += 1
            continue
        indent, target, sigil, body = m.groups()
        start = i
        while body.endswith("\\") and i + 1 < len(lines):  # continued shell line
            i += 1
            body = body[:-1] + " " + lines[i].strip()
        if sigil.startswith("!"):
            if target is not None and not _looks_like_target(target):
                i += 1
                continue
            out.shell.append((body, start + 1))
        else:
            name, _, args = body.strip().partition(" ")
            if not name or not name[0].isalpha():
                i += 1
                continue
            out.magics.append((name, args, start + 1))
            if name in _INSTALLERS:
                out.shell.append((f"{name} {args}", start + 1))
            elif name in _LINE_SHELL:
                out.shell.append((args, start + 1))
            elif name in ("cd", "env", "set_env", "run", "load_ext", "tensorboard"):
                out.shell.append((_magic_as_command(name, args), start + 1))
        stub = f"{indent}{target} = []" if target else f"{indent}pass"
        lines[start] = stub
        for j in range(start + 1, i + 1):
            lines[j] = f"{indent}pass"
        i += 1
    out.python = "\n".join(lines)
    return out


def _looks_like_target(t: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*", t.strip()))


def _magic_as_command(name: str, args: str) -> str:
    if name == "cd":
        return f"cd {args}"
    if name in ("env", "set_env"):  # %env NAME=value with spaces, or %env NAME value
        key, _, value = args.strip().partition("=") if "=" in args else args.strip().partition(" ")
        return f"export {key.strip()}={shlex.quote(value.strip())}"
    if name == "run":
        return f"python {args}"
    return f"%{name} {args}"




def transform_with_ipython(code: str) -> str | None:
    """IPython's own transformation, for cells the cheap rewrite cannot make parse.
    None when IPython is not installed or also fails."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    try:
        return TransformerManager().transform_cell(code)
    except Exception:  # IPython raises many kinds on garbage; any of them means "no"
        return None
