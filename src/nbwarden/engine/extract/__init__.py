"""Extraction: units of code in, facts out.

``Collector`` is the single place facts are made. The Python and shell extractors call
``command()`` / ``string()`` / ``fact()`` on it and hand it code they uncovered (a decoded
payload, the body of ``bash -c``) through ``unit()``, which analyses that code like the
original, one level deeper, within a fixed depth and byte budget.
"""
from __future__ import annotations

import ast
import re
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from contextlib import contextmanager

from ..deobfuscate import try_base64_literal
from ..model import PYTHON, SHELL, TEXT, Fact, Unit
from . import python as py
from . import shell as sh

MAX_HIDDEN_DEPTH = 4  # decoded-inside-decoded levels followed
MAX_DECODED_BYTES = 4 << 20  # decoded code analysed per file
MAX_MATCH_VALUE = 256 << 10  # longest value kept as a fact (the rest is cut, not dropped)
MAX_UNIT_BYTES = 8 << 20  # larger units are analysed in line-aligned pieces of PIECE_BYTES
PIECE_BYTES = 1 << 20  # parsing 1 MB of dense code takes about a second and 120 MB: not more at once
MAX_PARSED_PIECES_BYTES = 64 << 20  # per file or cell: pieces past this are read as text only
TEXT_CHUNK = MAX_MATCH_VALUE - 4096  # a chunk read as text is one whole string fact
MAX_NAME_SOURCE = 64 << 10  # longest expression (in source characters) a session keeps for later cells
#: Nesting of code inside code the walk follows (a heredoc in a heredoc, a written script
#: that writes a script, ``$(...)`` in ``$(...)``): every entry to ``Collector.run``,
#: ``Collector.shell`` and ``python_facts`` counts one level. Past it the unit raises
#: RecursionError, which the engine reports as "code too deeply nested". An explicit bound
#: because compiled modules have no recursion limit (they recurse on the C stack until the
#: process dies): 200 levels are a few hundred C frames, far below what 1 MB of stack holds,
#: and far above any real notebook (a handful).
MAX_NESTING = 200
MAX_FACTS = 200_000  # per file: past this, further strings are dropped (with a note), not memory
# Colab form field: `tunnel = "gradio"  #@param ["gradio", "ngrok"]`. To Python the option list
# is a comment; to the user it is a menu, so each option is a value the code can receive.
_FORM_FIELD = re.compile(r"(?m)^[ \t]*[\w.]+[ \t]*=[^#\n]*#[ \t]*@param[ \t]*\[([^\]\n]*)\]")
_FORM_OPTION = re.compile(r"""["']([^"'\n]{1,200})["']""")
_DATA_FILE = re.compile(r">>?[ \t]*[\"']?[\w./~$-]+\.(?:json|ya?ml|conf|cfg|ini|toml|txt|env|properties)\b")
_FOLDABLE = (ast.Constant, ast.Name, ast.BinOp, ast.JoinedStr, ast.Call, ast.Subscript)  # see session_writes
_PATH_EXTS = frozenset("""onnx pth pt ckpt safetensors pb tflite engine bin h5 dat exe tar.gz tgz tar.xz zip 7z
appimage deb jar so npz pkl index yaml""".split())  # file names with these endings become `path` facts
#: a string that may hold such a file name (one C search before the word-by-word look)
_PATH_EXT = re.compile(r"\.(?:%s)\b" % "|".join(sorted((re.escape(e) for e in _PATH_EXTS), key=len, reverse=True)),
                       re.I)


class ShellState:
    """What a shell session remembers between commands (and, in a kernel, between cells):
    variables set (``export``, ``%env``), files made executable and folders an archive was
    unpacked into (its programs keep their execute bits). A session's state is
    never changed in place: a ``Collector`` changes its own copy, which the session adopts
    only if the cell is remembered (so a refused cell leaves no trace). ``cd`` is not
    followed: no fact depends on the working folder."""

    def __init__(self):
        self.vars: dict[str, str] = {}
        self.chmodded: set[str] = set()
        self.unpacked: set[str] = set()  # first path part of each folder: `unzip a.zip -d w` -> "w"

    def copy(self) -> "ShellState":
        c = ShellState()
        c.vars, c.chmodded, c.unpacked = dict(self.vars), set(self.chmodded), set(self.unpacked)
        return c


class SessionNames(Mapping):
    """A kernel session's Python variables as one cell's walk sees them, read-only, with a
    record of every name the walk asked for (found or not): what the cell's facts can depend
    on, so that running it again is a replay only while those names mean what they meant."""

    def __init__(self, names: dict):
        self.names = names
        self.asked: set[str] = set()

    def __getitem__(self, key):
        self.asked.add(key)
        return self.names[key]

    def __contains__(self, key):
        self.asked.add(key)
        return key in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)


class SessionLayer(dict):
    """The names a walk sees in a session: the walk's own assignments (the dict itself) over
    the session's variables (``below``, a ``SessionNames``). It answers exactly as
    ``ChainMap(own, below)`` did (a name the walk assigned shadows the session's; a name not
    its own is asked of ``below``, which records it), but a walk's own names are stored and
    read at dict speed: this mapping is consulted for every name a walk folds."""

    __slots__ = ("below",)

    def __init__(self, below: SessionNames):
        super().__init__()
        self.below = below

    def __missing__(self, key):  # self[key] for a name the walk did not assign
        return self.below[key]

    def __contains__(self, key):
        return dict.__contains__(self, key) or key in self.below

    def get(self, key, default=None):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return self.below[key] if key in self.below else default

    # a whole view (``{**env}``) is the union, ordered as a ChainMap orders it
    def __iter__(self):
        d = dict.fromkeys(self.below)
        d.update(dict.fromkeys(dict.keys(self)))
        return iter(d)

    def __len__(self):
        return len(set(self.below).union(dict.keys(self)))

    def keys(self):
        return KeysView(self)

    def items(self):
        return ItemsView(self)

    def values(self):
        return ValuesView(self)

    def own(self) -> dict:
        """What the walk itself assigned."""
        return dict(dict.items(self))

    def assigns(self, key) -> bool:
        """Did the walk itself assign ``key`` (without asking the session)?"""
        return dict.__contains__(self, key)


class Collector:
    def __init__(self, shell_state: ShellState | None = None, aliases: dict[str, str] | None = None,
                 names: dict | None = None):
        self.facts: list[Fact] = []
        #: import aliases in force (``np`` -> ``numpy``, ``s`` -> ``subprocess``): one namespace
        #: for every cell of a notebook, as a kernel has, so ``import subprocess as s`` in cell 1
        #: is known when cell 5 calls ``s.run``. The collector's own copy of ``aliases``.
        self.aliases: dict[str, str] = dict(aliases) if aliases else {}
        self.decoded_bytes = 0
        self.nesting = 0  # levels of Collector.run / shell / python_facts entered: see MAX_NESTING
        self.parsed_pieces_bytes = 0  # of units over MAX_UNIT_BYTES, parsed piece by piece
        #: the shell state this walk reads and, after its first change, its own copy of it
        self.shell_state = shell_state or ShellState()
        self._own_state = shell_state is None
        self._chmodded = self.shell_state.chmodded
        self._shell_vars = self.shell_state.vars
        self.notes: list[str] = []
        #: Python names assigned so far in this file (its cells are one kernel session): the
        #: expression last assigned to each, so a later cell's ``os.system(cmd)`` or
        #: ``!{tool} ...`` folds names an earlier cell set. A session's check_cell passes the
        #: names of its earlier cells (``names``): this cell's assignments go to a layer of their
        #: own above them, and what it reads below is recorded (``session_names.asked``)
        self.session_names = SessionNames(names) if names is not None else None
        self.py_env: dict = SessionLayer(self.session_names) if names is not None else {}
        self.used_shell_state = False  # did any fact depend on the shell state (variables, chmod +x)?

    # -- a session's variables (collectors made with ``names``) ---------------------------
    def session_reads(self) -> list[str]:
        """The session variables this walk asked for, other than those it assigns itself
        (``x = f(x)`` run again after setting the session's ``x`` still reads its own)."""
        return [k for k in self.session_names.asked if not self.py_env.assigns(k)]

    def session_writes(self) -> dict:
        """What this walk assigned that a later cell's fold can use (constants, strings built
        from pieces or decoded, other names, slices, short argv lists), at most
        MAX_NAME_SOURCE long in the source: a session's memory holds their syntax trees;
        data (a dict, a big literal, a long call) is not kept."""
        out = {}
        for k, v in self.py_env.own().items():
            t = type(v)
            if t in _FOLDABLE or t in (ast.List, ast.Tuple) and len(v.elts) <= 64:
                lines = (v.end_lineno or v.lineno) - v.lineno
                if lines * 200 + (v.end_col_offset or 0) <= MAX_NAME_SOURCE:
                    out[k] = v
        return out

    # -- making facts -----------------------------------------------------------------
    def fact(self, kind: str, value: str, unit: Unit, line: int, *, always: bool = False) -> None:
        """Record a fact. Past MAX_FACTS only ``always`` facts are kept: the whole text of a
        chunk, so that nothing in a huge file goes unmatched."""
        if len(self.facts) >= MAX_FACTS and not always:
            if len(self.facts) == MAX_FACTS:
                self.notes.append(f"more than {MAX_FACTS} facts; the rest were not kept")
                self.facts.append(Fact("behaviour", "fact-limit", unit, line))
            return
        if len(value) > MAX_MATCH_VALUE:
            value = value[:MAX_MATCH_VALUE]
        self.facts.append(Fact(kind, value, unit, line))

    @property
    def full(self) -> bool:
        """At the fact limit: extractors stop looking for more."""
        return len(self.facts) >= MAX_FACTS

    def string(self, value: str, unit: Unit, line: int, *, decode_literal: bool = True) -> None:
        """A string the code uses; URLs, repositories and file names inside it become facts
        of their own, and a literal that is base64 of text is read as that text too."""
        self.fact("string", value, unit, line)
        self.derived(value, unit, line)
        if decode_literal and len(value) >= 16:
            hidden = try_base64_literal(value)
            if hidden is not None:
                self.unit(hidden, TEXT, unit, line, "base64 literal")

    def derived(self, value: str, unit: Unit, line: int) -> None:
        if "://" in value:
            for url, host, rest in sh.urls_in(value):
                self.fact("url", url, unit, line)
                self.fact("host", host, unit, line)
                repo = sh.repo_of(rest, host)
                if repo:
                    self.fact("repo", repo, unit, line)
        if "." in value and len(value) < 4096 and _PATH_EXT.search(value):
            for word in value.split():
                if "." not in word:
                    continue
                word = word.strip("'\",;()[]")
                base = word.rsplit("/", 1)[-1]
                parts = base.lower().rsplit(".", 2)
                if len(parts) > 1 and parts[0] and (parts[-1] in _PATH_EXTS or ".".join(parts[-2:]) in _PATH_EXTS
                                                    or parts[-1] in ("tar", "gz") and parts[-2] in _PATH_EXTS):
                    self.fact("path", base, unit, line)

    @contextmanager
    def own_namespace(self):
        """For Python that runs as a module or process of its own (a written ``.py`` file,
        ``python -c``, a heredoc fed to python): its imports are its own, not the cell's."""
        saved = self.aliases, self.py_env
        self.aliases, self.py_env = {}, {}
        try:
            yield
        finally:
            self.aliases, self.py_env = saved

    # -- code uncovered inside code -----------------------------------------------------
    def unit(self, code: str, lang: str, parent: Unit, line: int, how: str) -> None:
        """Analyse code found inside ``parent`` (decoded, or passed to a shell) like the
        original. Plain-sight shell (``!cmd``) keeps depth; decoded code goes one deeper."""
        hidden = parent.hidden + (1 if how else 0)
        if hidden > MAX_HIDDEN_DEPTH:
            self.notes.append(f"decoding stopped at depth {MAX_HIDDEN_DEPTH}")
            return
        if how:
            self.decoded_bytes += len(code)
            if self.decoded_bytes > MAX_DECODED_BYTES:
                self.notes.append("decoded-code budget exhausted")
                return
            how = f"{parent.how} -> {how}" if parent.how else how
            self.fact("behaviour", "decoded-code", parent, line)
        origin = parent.origin if parent.hidden else Fact("string", "", parent, line).snippet
        sub = Unit(code, lang, cell=parent.cell, line=line, hidden=hidden, how=how or parent.how, origin=origin)
        self.run(sub)

    def nested(self, read, *args) -> None:
        """``read(*args)`` one level of code inside code deeper (see ``MAX_NESTING``)."""
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise RecursionError(f"code nested more than {MAX_NESTING} levels")
            read(*args)
        finally:
            self.nesting -= 1

    def run(self, unit: Unit) -> None:
        self.nested(self._run, unit)

    def _run(self, unit: Unit) -> None:
        if len(unit.code) > MAX_UNIT_BYTES:
            return self._pieces(unit)
        if unit.lang == PYTHON:
            py.python_facts(self, unit)
            if "@param" in unit.code:
                self.form_options(unit)
        elif unit.lang == SHELL:
            self.shell(unit.code, unit, unit.line)
        else:
            py.text_facts(self, unit)

    def _pieces(self, unit: Unit) -> None:
        """A unit too large to parse at once, analysed in line-aligned pieces. Padding a cell
        or file past MAX_UNIT_BYTES must not blunt the check, so each piece is read like
        code of the unit's language (a ``%%bash`` header is repeated on each), the same
        reading whether the unit is a scanned file or a cell. Once the facts are at their
        limit, or MAX_PARSED_PIECES_BYTES have been parsed, the rest is read as text:
        parsing would only make facts that are dropped, and the text chunks are facts that
        are always kept, so nothing goes unmatched."""
        code, start, line = unit.code, 0, unit.line
        header = code[:code.find("\n") + 1] if unit.lang == PYTHON and code.startswith("%%") else ""
        self.notes.append(f"cell {unit.cell}: {len(code)} bytes, analysed in pieces")
        while start < len(code):
            as_code = unit.lang != TEXT and not self.full and self.parsed_pieces_bytes < MAX_PARSED_PIECES_BYTES
            size = PIECE_BYTES if as_code else TEXT_CHUNK
            end = code.rfind("\n", start, start + size) + 1 if len(code) - start > size else len(code)
            if end <= start:  # a line longer than a piece: cut it
                end = start + size
            piece = code[start:end]
            if not as_code:
                py.text_facts(self, Unit(piece, TEXT, unit.cell, line, unit.hidden, unit.how, unit.origin))
            elif header and start:  # the header's line stands just above the piece
                self.parsed_pieces_bytes += len(piece)
                self.run(Unit(header + piece, unit.lang, unit.cell, line - 1, unit.hidden, unit.how, unit.origin))
            else:
                self.parsed_pieces_bytes += len(piece)
                self.run(Unit(piece, unit.lang, unit.cell, line, unit.hidden, unit.how, unit.origin))
            line += piece.count("\n")
            start = end

    def form_options(self, unit: Unit) -> None:
        """Each option of a Colab form field's menu, as a string the code uses."""
        line, pos = unit.line, 0
        for m in _FORM_FIELD.finditer(unit.code):
            line += unit.code.count("\n", pos, m.start())
            pos = m.start()
            for option in _FORM_OPTION.findall(m.group(1)):
                self.string(option, unit, line, decode_literal=False)

    # -- shell ------------------------------------------------------------------------
    def shell(self, text: str, unit: Unit, line: int) -> None:
        self.nested(self._shell, text, unit, line)

    def _shell(self, text: str, unit: Unit, line: int) -> None:
        pipelines, heredocs = sh.split_commands(text)
        for pipe, offset in pipelines:
            self._pipeline(pipe, unit, line + offset)
        for body, offset, opener, opener_pipes in heredocs:
            if not body.strip():
                continue
            decoded = next(filter(None, (sh.decode_pipeline(pipe, heredoc=body) for pipe in opener_pipes)), None)
            if decoded:  # base64 -d <<EOF | bash: the body is the hidden payload
                self._decoded(decoded, unit, line + offset)
                continue
            says_python = ".py" in opener or "python" in opener
            tree = py._parse(body) if says_python or "import " in body or "def " in body else None
            if says_python or tree is not None:  # parsed once, here, not again by python_facts
                with self.own_namespace():
                    py.python_facts(self, Unit(body, PYTHON, unit.cell, line + offset, unit.hidden, unit.how), tree)
            elif _DATA_FILE.search(opener) or body.lstrip()[:1] in ("{", "["):
                # a config file written in place (a miner's pools, a proxy's users): its
                # keys and values are strings the program will use, not commands
                py.text_facts(self, Unit(body, TEXT, unit.cell, line + offset, unit.hidden, unit.how))
            else:
                self.shell(body, unit, line + offset)
        for m in sh._SUBST.finditer(text):
            inner = m.group(1) or m.group(2)
            if inner and inner.strip():
                self.shell(inner, unit, line)

    def argv(self, argv: list[str], unit: Unit) -> None:
        """One process's argv, as the kernel holds it: analysed like a shell command whose
        words are already split (a multi-line ``python -c`` script stays one word)."""
        self._pipeline([(argv, unit.code)], unit, unit.line)

    def _pipeline(self, pipe, unit: Unit, line: int) -> None:
        self.used_shell_state = True  # shell commands are the only readers and writers of it
        progs = []
        for argv, _raw in pipe:
            if argv[0] in ("export", "declare", "local", "readonly"):
                argv = argv[1:] or ["export"]
            if all(sh._ASSIGN.match(a) for a in argv):  # VAR=value: remembered, expanded later
                self._writable_state()
                for a in argv:
                    k, _, v = a.partition("=")
                    self._shell_vars[k] = self._expand(v)
                    if len(v) > 2:
                        self.string(self._shell_vars[k], unit, line)
                continue
            argv = [self._expand(a) for a in argv]
            for a in argv:  # NAME=value before a command: its environment, often its options
                if not sh._ASSIGN.match(a):
                    break
                value = a.partition("=")[2]
                if len(value) > 2:
                    self.string(value, unit, line)
            argv, script = sh.unwrap(argv)
            if not argv:
                continue
            prog = argv[0].rsplit("/", 1)[-1].lower()
            progs.append(prog)
            self.command(prog, argv, unit, line)
            written = sh.echoed_into_file(prog, argv)
            if written is not None and py.script_language(written[0]):  # echo "CMD" >> run.sh
                py.written_file(self, unit, written[0], written[1], line, body_line=line)
            if script is not None:
                if script.startswith("py:"):
                    with self.own_namespace():
                        self.unit(script[3:], PYTHON, unit, line, "")
                else:
                    self.shell(script, unit, line)
        if len(progs) >= 2:
            if progs[0] in sh._DOWNLOADERS and (progs[-1] in sh._SHELLS or sh._PYTHONS.match(progs[-1])):
                self.fact("behaviour", "pipe-to-shell", unit, line)
        decoded = sh.decode_pipeline(pipe)
        if decoded:
            self._decoded(decoded, unit, line)
            return
        for argv, _raw in pipe:  # a word that is base64 of text, read as a Python literal would be
            for a in argv[1:]:
                if len(a) >= 16:
                    hidden = try_base64_literal(a)
                    if hidden is not None:
                        self.unit(hidden, TEXT, unit, line, "base64 literal")

    def _decoded(self, decoded: tuple[str, str, str], unit: Unit, line: int) -> None:
        """What a decoding pipeline hands on, analysed as the language it goes to."""
        text, dest, steps = decoded
        lang = {"shell": SHELL, "python": PYTHON}.get(dest, TEXT)
        self.unit(text, lang, unit, line, f"{steps} | sh" if dest == "shell" else f"{steps} | {dest}")

    def _writable_state(self) -> None:
        """Copy the caller's shell state before the first change to it (copy on write)."""
        if not self._own_state:
            self.shell_state, self._own_state = self.shell_state.copy(), True
            self._chmodded, self._shell_vars = self.shell_state.chmodded, self.shell_state.vars

    def _expand(self, arg: str) -> str:
        if "$" not in arg or not self._shell_vars:
            return arg
        return sh._VAR.sub(lambda m: self._shell_vars.get(m.group(1) or m.group(2), m.group(0)), arg)

    def command(self, prog: str, argv: list[str], unit: Unit, line: int) -> None:
        self.fact("program", prog, unit, line)
        text = " ".join([prog] + argv[1:])
        self.fact("command", text[:sh.MAX_COMMAND], unit, line)
        exe = argv[0]
        if exe.startswith(sh._TMP_DIRS) or exe.startswith("./") and exe[2:] in self._chmodded:
            self.fact("behaviour", "run-downloaded-binary" if exe[2:] in self._chmodded else "run-from-tmp",
                      unit, line)
        elif exe.rsplit("/", 1)[-1] in self._chmodded and "/" in exe:
            self.fact("behaviour", "run-downloaded-binary", unit, line)
        elif "/" in exe and self.shell_state.unpacked \
                and sh.top_folder(exe) in self.shell_state.unpacked:
            # a program inside a folder an archive was unpacked into (`unzip a.zip -d w; w/x`):
            # the archive kept its execute bits, no chmod was needed
            self.fact("behaviour", "run-unpacked", unit, line)
        if prog in ("unzip", "tar", "bsdtar", "7z", "7za"):
            dest = sh.unpack_dest(prog, argv)
            if dest:
                self._writable_state()
                self.shell_state.unpacked.add(dest)
        if prog == "chmod" and any("x" in a for a in argv[1:2]) or prog == "chmod" and "777" in argv:
            self._writable_state()
            for a in argv[2:]:
                self._chmodded.add(a.rsplit("/", 1)[-1])
        sub = argv[1] if len(argv) > 1 else ""
        if sh._PYTHONS.match(prog) and sub == "-m" and len(argv) > 2:
            mod = argv[2]
            self.fact("call", f"-m {mod}", unit, line)
            if mod == "pip" and len(argv) > 3:
                prog, sub, argv = "pip", argv[3], argv[2:]
        rest = argv[2:]
        if sub.startswith("-") and prog in sh._INSTALL_OPTS_FIRST:
            i = 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 2 if argv[i] in sh._INSTALL_VALUE_OPTS else 1
            if i < len(argv):
                sub, rest = argv[i], argv[i + 1:]
        if (prog, sub) in sh._INSTALL_CMDS:
            # a variable holding a package list (`apt-get install -y ${DEPS}`) expands to one
            # argument with the names separated by blanks: each name is a package
            for a in (w for arg in rest for w in arg.split()):
                if a.startswith("-") or a in ("install", "pip"):
                    continue
                self._package(a, unit, line)
        if prog == "git" and sub == "clone":
            for a in argv[2:]:
                if not a.startswith("-"):
                    self.derived(a, unit, line)
                    if not any(True for _ in sh.urls_in(a)) and a.count("/") == 1:
                        self.fact("repo", f"github.com/{a}".lower(), unit, line)
                    break
        for a in argv[1:]:
            if "://" in a or "." in a:
                self.derived(a, unit, line)

    def _package(self, spec: str, unit: Unit, line: int) -> None:
        if "://" in spec:
            self.derived(spec, unit, line)
            egg = re.search(r"#egg=([\w.\-]+)", spec)
            if egg:
                self.fact("package", egg.group(1).lower(), unit, line)
            return
        name = re.split(r"[\[=<>~!;@ ]", spec.strip("'\""), 1)[0].lower().replace("_", "-")
        if name and not name.startswith(("/", ".")) and not name.endswith((".txt", ".whl")):
            self.fact("package", name, unit, line)
        elif name.endswith(".whl"):
            self.fact("path", name.rsplit("/", 1)[-1], unit, line)
