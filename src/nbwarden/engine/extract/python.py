"""Python (and IPython) code to facts, in one walk over the syntax tree.

What counts as use: imports, calls (import aliases resolved), keyword arguments with
constant values, strings the code uses, names it defines, and the commands it hands to a
shell. What does not: strings only printed, logged or displayed, and docstrings; a word in
a print or a comment is not evidence of use. Strings built from pieces, and payloads
decoded then run, are folded (see ``deobfuscate``) and analysed like plain code.
"""
from __future__ import annotations

import ast
import re
import warnings
from collections import ChainMap, deque

from ..deobfuscate import Folder, as_text
from ..model import PYTHON, SHELL, Fact, Unit
from .ipython import has_ipython_syntax, split_cell, transform_with_ipython

#: Calls whose string arguments are shown to a person, not used by the program.
_DISPLAY = frozenset({"print", "display", "Markdown", "HTML", "logging.info", "logging.debug", "logging.warning",
                      "logging.error", "logger.info", "logger.debug", "logger.warning", "logger.error",
                      "log.info", "log.debug", "log.warning", "warnings.warn", "st.write", "st.markdown",
                      "st.title", "st.header", "st.text", "tqdm.write", "IPython.display.Markdown",
                      "IPython.display.HTML", "IPython.display.display", "pprint", "pprint.pprint", "gr.Markdown"})
_DISPLAY_SHORT = frozenset({"info", "debug", "warning", "error", "critical", "write", "set_description",
                            "set_title", "add_text", "markdown", "Markdown", "caption"})
#: Calls that run their argument as a shell command line.
_SHELL_CALLS = frozenset({"os.system", "os.popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
                          "subprocess.check_output", "subprocess.Popen", "subprocess.getoutput",
                          "subprocess.getstatusoutput", "get_ipython().system", "get_ipython().getoutput",
                          "get_ipython().system_raw", "pexpect.spawn", "pexpect.run", "os.spawnl", "os.spawnlp",
                          "os.execl", "os.execlp", "os.execv", "os.execvp", "os.posix_spawn", "os.posix_spawnp",
                          "asyncio.create_subprocess_shell", "asyncio.create_subprocess_exec", "commands.getoutput",
                          "sh.Command", "plumbum.local", "sp.run", "sp.call", "sp.Popen", "sp.check_output",
                          "sp.check_call", "run_command", "ipython.system"})
_EXEC_CALLS = frozenset({"exec", "eval", "compile", "builtins.exec", "builtins.eval", "execfile"})
_MAGIC_CALLS = frozenset({"get_ipython().run_line_magic", "get_ipython().run_cell_magic", "get_ipython().magic"})
_SHELL_SHORT = ("system", "getoutput", "popen", "Popen", "check_output", "check_call")
_DECODE_SHORT = ("b64decode", "decodebytes", "fromhex", "unhexlify", "decompress", "decode")
#: Calls ``_call`` looks into beyond the call fact: one set lookup rules out the rest.
_SPECIAL_CALLS = _SHELL_CALLS | _EXEC_CALLS | _MAGIC_CALLS
_SPECIAL_SHORT = frozenset({*_SHELL_SHORT, "exec", "eval", "join", *_DECODE_SHORT})
_IMPORT_RE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w., ]+))", re.M)
_STRING_RE = re.compile(r"""(?s)("{3}|'{3}|"|')(.{0,4096}?)(?<!\\)\1""")
#: A cell whose first line of code (after blank and comment lines) starts with ``!`` or ``%``:
#: no Python statement starts so, and nothing before it can open a string or a bracket, so
#: Python rejects it. Such cells (``!pip install ...`` first) skip that doomed parse, which
#: costs a second, error-reporting pass of the parser. Comments holding a backslash or a
#: carriage return (both can join lines) keep the parse.
_REJECTED_BY_PYTHON = re.compile(r"(?:[ \t]*(?:#[^\r\n\\]*)?\n)*[ \t]*[!%]")


def _parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def python_facts(col, unit: Unit, tree: ast.Module | None = None) -> None:
    """Facts of Python (IPython) code. ``tree``: the code already parsed by a caller that
    had to parse it to know it is Python, so it is not parsed twice. One level of
    ``MAX_NESTING`` (a ``%%writefile`` body that writes a file, a heredoc's Python)."""
    col.nested(_python_facts, col, unit, tree)


def _python_facts(col, unit: Unit, tree: ast.Module | None) -> None:
    code = unit.code
    split = split_tree = None
    if tree is None:
        if ("!" in code or "%" in code) and (code.lstrip(" \t")[:1] in ("!", "%") or _ESCAPE_LINE.search(code)):
            # read the IPython way first; the Python parse is skipped when it is certain to
            # fail (it costs a second, error-reporting pass): the first code line is an escape,
            # or every escape stands where a statement starts
            split = split_cell(code)
            split_tree = _parse(split.python) if split.python is not None else None
            if not (_REJECTED_BY_PYTHON.match(code)
                    or split_tree is not None and _stubs_are_statements(split_tree, split)):
                tree = _parse(code)  # None unless the escape lines are inside strings or brackets
        else:
            tree = _parse(code)
            if tree is None and has_ipython_syntax(code):  # `x = !cmd`, `obj?`, an indented cell
                split = split_cell(code)
                split_tree = _parse(split.python) if split.python is not None else None
    if tree is None and split is not None:
        expand = None
        for text, line in split.shell:
            if ("{" in text or "$" in text) and split.python is not None:
                if expand is None:
                    expand = _ipython_expander(col, split_tree)
                text = expand(text)
            col.shell(text, unit, unit.line + line - 1)
        for name, args, line in split.magics:
            col.fact("call", f"%{name}", unit, unit.line + line - 1)
        for path, body, line in split.files:
            written_file(col, unit, path, body, unit.line + line - 1)
        if split.python is None:
            return
        code = split.python
        tree = split_tree
        if tree is None:
            transformed = transform_with_ipython(unit.code)
            tree = _parse(transformed) if transformed else None
    if tree is None:
        tree, broken = _parse_blocks(code, whole_failed=True)
        if tree is None:
            col.notes.append(f"cell {unit.cell}: not valid Python; strings and imports read as text")
            text_facts(col, unit)
            return
        col.notes.append(f"cell {unit.cell}: not valid Python at line(s) "
                         f"{', '.join(str(unit.line + first - 1) for first, _ in broken[:5])}; those read as text")
        for first, text in broken:
            text_facts(col, Unit(text, unit.lang, unit.cell, unit.line + first - 1, unit.hidden, unit.how))
    _walk(col, unit, tree)


#: A line that starts (after blanks) with a shell escape or a magic, after the cell's first
#: line (that one is looked at apart): a search from each newline, where a search for
#: ``(?m)^`` would try every character.
_ESCAPE_LINE = re.compile(r"\n[ \t]*[!%]")
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _stubs_are_statements(tree: ast.Module, split) -> bool:
    """Does every line ``split_cell`` replaced hold, in the rewritten cell's tree, the very
    statement it put there (``pass``, or ``x = []`` for ``x = !cmd``)? Then each escape
    stood where a statement starts, which Python never accepts, so the original cell cannot
    parse. A line inside a string or a bracket holds no statement of its own."""
    lines = {n for _, n in split.shell} | {n for _, _, n in split.magics}
    return all(type(_statement_at(tree.body, n)) in (ast.Pass, ast.Assign) for n in lines)


def _statement_at(body: list, line: int) -> ast.stmt | None:
    """The statement that starts on ``line``, found by descending through the statement
    lists that span it (a few steps, not a walk); None when no statement starts there."""
    while body:
        node = next((st for st in body if st.lineno <= line <= (st.end_lineno or st.lineno)), None)
        if node is None or node.lineno == line:
            return node
        children = [c for f in _BODIES for c in getattr(node, f, None) or ()]
        body = [st for c in children for st in (c.body if type(c) in (ast.ExceptHandler, ast.match_case) else (c,))]
    return None


MAX_BLOCKS = 5000  # top-level blocks parsed one by one at most (each failed parse costs ~20 µs)
MAX_BROKEN_BLOCKS = 50
_CONTINUES = re.compile(r"[ \t#)\]}]|(?:else|elif|except|finally)\b")


def _parse_blocks(code: str, whole_failed: bool = False) -> tuple[ast.Module | None, list[tuple[int, str]]]:
    """A file with one syntax error (a stray line, a shell command pasted into a script)
    should lose that statement, not every call in the file: parse each top-level block on
    its own (a block starts at an unindented line) and keep the ones that parse, in order
    and with their own line numbers, as one module. Returns the module (None if no block
    parsed) and the (first line, text) of the blocks that did not.

    ``whole_failed``: the caller saw ``code`` itself fail to parse. Then, when every other
    block parses on its own, the largest block is known not to, and its parse (the costliest,
    often most of the cell) is skipped: blocks that each parse join into code that parses.
    Each such block ends with no bracket, string or line continuation open (else it would
    not parse alone), and the next starts unindented (or it would not parse alone) on a line
    that cannot continue a statement (not ``else``/``elif``/``except``/``finally``, not
    after a decorator, a trailing backslash, comma, bracket or colon), so the parser reads
    each block's statements the same whole as alone."""
    lines = code.split("\n")
    starts = [0]
    prev = ""
    for i, line in enumerate(lines[1:], 1):
        if line and not _CONTINUES.match(line) and not prev.rstrip().endswith(("\\", ",", "(", "[", "{", ":")) \
                and not prev.startswith("@"):
            starts.append(i)
        if line.strip():
            prev = line
    if len(starts) == 1 or len(starts) > MAX_BLOCKS:
        return None, [(1, code)]
    spans = list(zip(starts, starts[1:] + [len(lines)]))
    texts = ["\n".join(lines[a:b]) for a, b in spans]
    last = max(range(len(spans)), key=lambda i: len(texts[i])) if whole_failed else -1
    trees: list[ast.Module | None] = [None] * len(spans)
    failed = 0
    for i in sorted(range(len(spans)), key=lambda i: i == last):  # the largest block last
        a, b = spans[i]
        if i == last and not failed:
            tree = None  # every other block parsed: this one cannot
        elif a <= 32 * (b - a):  # blank lines above it number its lines as in the code
            tree = _parse("\n" * a + texts[i])
        else:  # (a block far down a file: its tree's line numbers are moved instead)
            tree = _parse(texts[i])
            if tree is not None:
                ast.increment_lineno(tree, a)
        trees[i] = tree
        if tree is None:
            failed += 1
            if failed > MAX_BROKEN_BLOCKS:  # not Python with a slip: read it all as text
                return None, [(1, code)]
    body: list[ast.stmt] = []
    broken: list[tuple[int, str]] = []
    for (a, _), text, tree in zip(spans, texts, trees):
        if tree is None:
            broken.append((a + 1, text))
        else:
            body.extend(tree.body)
    return (ast.Module(body=body, type_ignores=[]) if body else None), broken


def script_language(path: str) -> str | None:
    """SHELL or PYTHON for a file the code writes that is a script a kernel or shell would
    run, by its name; None for any other file."""
    return SHELL if path.endswith((".sh", ".bash")) else PYTHON if path.endswith(".py") else None


def written_file(col, unit: Unit, path: str, body: str, line: int, body_line: int | None = None) -> None:
    """A file the code writes (``%%writefile``, ``open(p, "w").write(...)``, ``echo ... >
    p``): its name, at ``line``, and its body read as what it is, from ``body_line`` (by
    default the next line)."""
    col.fact("path", path.rsplit("/", 1)[-1], unit, line)
    lang = script_language(path)
    at = line + 1 if body_line is None else body_line
    if lang == SHELL:
        col.shell(body, unit, at)
    elif lang == PYTHON:
        with col.own_namespace():
            python_facts(col, Unit(body, PYTHON, unit.cell, at, unit.hidden, unit.how))
    else:
        text_facts(col, Unit(body, "text", unit.cell, at, unit.hidden, unit.how))


def text_facts(col, unit: Unit) -> None:
    """Code that is not valid Python (other kernels' languages, broken cells, oversized
    cells): imports and quoted strings found by pattern, and the text itself as one
    string, so literal evidence is not lost."""
    code = unit.code
    line, last = unit.line, 0
    for m in _IMPORT_RE.finditer(code):
        if col.full:
            break
        line += code.count("\n", last, m.start())
        last = m.start()
        for mod in (m.group(1) or m.group(2) or "").split(","):
            mod = mod.strip().split(" ")[0]
            if mod:
                col.fact("import", mod, unit, line)
    line, last = unit.line, 0
    for m in _STRING_RE.finditer(code):
        if col.full:
            break
        s = m.group(2)
        if s.strip():
            line += code.count("\n", last, m.start())  # incrementally: linear in the text
            last = m.start()
            col.string(s, unit, line)
    col.fact("string", code, unit, unit.line, always=True)
    if not col.full:
        col.derived(code, unit, unit.line)


#: Calls of calls (``f()()()``) ``_dotted`` reads into a name; past it RecursionError ("code
#: too deeply nested"): the parser accepts chains 100,000 long, and compiled code has no
#: recursion limit of its own. Real code chains two or three.
MAX_CALL_CHAIN = 200


def _dotted(node: ast.AST, aliases: dict[str, str], depth: int = 0) -> str:
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            if depth >= MAX_CALL_CHAIN:
                raise RecursionError(f"calls chained more than {MAX_CALL_CHAIN} deep")
            inner = _dotted(node.func, aliases, depth + 1)
            parts.append(inner + "()")
            break
        elif isinstance(node, ast.Name):
            parts.append(aliases.get(node.id, node.id))
            break
        else:
            parts.append("")
            break
    return ".".join(reversed(parts))


#: Fields that never hold nodes worth visiting (names, flags, operators, load/store context).
_SCALAR_FIELDS = frozenset({"ctx", "op", "ops", "id", "arg", "name", "names", "module", "level", "kind", "attr",
                            "type_comment", "is_async", "conversion", "simple", "kwd_attrs"})

_CONST, _CALL, _EXPR, _IMPORT, _FROM, _ASSIGN, _DEF, _FSTR, _BINOP, _ATTR = range(1, 11)
_DISPATCH = {ast.Constant: _CONST, ast.Call: _CALL, ast.Expr: _EXPR, ast.Import: _IMPORT, ast.ImportFrom: _FROM,
             ast.Assign: _ASSIGN, ast.FunctionDef: _DEF, ast.AsyncFunctionDef: _DEF, ast.ClassDef: _DEF,
             ast.JoinedStr: _FSTR, ast.BinOp: _BINOP}
#: node type -> (fields to descend into, dispatch kind); filled as types are met. A call's
#: children are pushed by its own branch (a plain dotted callee holds nothing to visit), and
#: so is an attribute chain's root (``self.net.fc`` holds nothing else to visit).
_NODE_INFO: dict[type, tuple[tuple[str, ...], int | None]] = {ast.Constant: ((), _CONST), ast.Name: ((), None),
                                                               ast.Call: ((), _CALL), ast.Attribute: ((), _ATTR)}


def _node_info(t: type) -> tuple[tuple[str, ...], int | None]:
    info = _NODE_INFO[t] = (tuple(f for f in t._fields if f not in _SCALAR_FIELDS), _DISPATCH.get(t))
    return info


def _walk(col, unit: Unit, tree: ast.Module) -> None:
    """One pass over every node, parents before children, in source order (so imports are
    known before the calls that use them, and a print's arguments are marked before they
    are reached). The fields that never hold nodes are skipped per node type, node kinds
    are dispatched by one dict lookup, and a call's plain dotted callee (``np.random.rand``,
    already read whole by ``_dotted``) is not descended into: this walk runs before every
    cell. Names hold nothing to visit and are not pushed from single-node fields."""
    aliases = col.aliases  # the notebook's namespace: imports and names of earlier cells hold here
    env = col.py_env
    skip: set[int] = set()
    calls: list[tuple[ast.Call, str]] = []
    folder = Folder(env, aliases)  # one per walk: it reads env and aliases as they grow
    base = unit.line - 1
    fact = col.fact
    info_of = _NODE_INFO.get
    Attribute, Name = ast.Attribute, ast.Name
    stack: list = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node = pop()
        t = type(node)
        info = info_of(t)
        if info is None:
            if not isinstance(node, ast.AST):
                continue
            info = _node_info(t)
        fields, k = info
        for f in fields:
            v = getattr(node, f)
            if type(v) is list:
                extend(v[::-1])
            elif v is not None and type(v) is not Name:
                push(v)
        if k is None:
            continue
        if k == _CONST:
            if id(node) in skip:
                continue
            v = node.value
            if type(v) is str:
                if len(v) > 2 and v.strip():
                    col.string(v, unit, base + node.lineno)
            elif type(v) is bytes and 2 < len(v) < 65536:
                s = as_text(v)
                if s:
                    col.string(s, unit, base + node.lineno)
        elif k == _ATTR:
            # an attribute read on what a call returned (``connect(8888).public_url``, or
            # ``t.public_url`` after ``t = connect(8888)``): the API of the returned object
            # keeps its names when the module that made it is renamed
            a, v = node, node.value
            while type(v) is Attribute:
                a, v = v, v.value
            made = v if type(v) is ast.Call else env.get(v.id) if type(v) is Name and a is node else None
            if type(made) is ast.Call:
                fact("attr", f"{_dotted(made.func, aliases)}().{a.attr}", unit, base + a.lineno)
            if type(v) is not Name:
                push(v)
        elif k == _CALL:
            func = node.func
            callee = func
            while type(callee) is Attribute:
                callee = callee.value
            if type(callee) is not Name:  # f()(), x[0].f(), "".join: something inside to visit
                # (the callee's owner, not the callee: `f().g()` calls g, it does not read it)
                push(func.value if type(func) is Attribute else func)
            extend(node.args[::-1])
            extend(node.keywords[::-1])
            name = _dotted(func, aliases)
            calls.append((node, name))
            if name in _DISPLAY or (type(func) is ast.Attribute and func.attr in _DISPLAY_SHORT):
                for a in node.args:
                    _skip_literal(a, skip)
        elif k == _EXPR:
            if type(node.value) is ast.Constant:
                skip.add(id(node.value))
        elif k == _IMPORT:
            for a in node.names:
                fact("import", a.name, unit, base + node.lineno)
            aliases.update(_bound_names(node))
        elif k == _FROM:
            mod = node.module or ""
            fact("import", mod, unit, base + node.lineno)
            for a in node.names:
                if a.name != "*":
                    fact("import", f"{mod}.{a.name}" if mod else a.name, unit, base + node.lineno)
            aliases.update(_bound_names(node))
        elif k == _ASSIGN:
            target = node.targets[0] if len(node.targets) == 1 else None
            if type(target) is ast.Name:
                env[target.id] = node.value
            elif type(target) is ast.Attribute:
                owner = _module_owner(target, aliases)
                if owner:
                    fact("kwarg", f"{owner}:{target.attr}={_setting_value(node.value, folder)}", unit,
                         base + node.lineno)
        elif k == _DEF:
            fact("define", node.name, unit, base + node.lineno)
            body = node.body
            if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant:
                skip.add(id(body[0].value))
            if type(node) is ast.ClassDef:
                # a dataclass / pydantic / tyro argument class: each annotated field is a keyword
                # of the class's constructor (Args(driving_video=...)), as a CLI or request
                # model declares its options; read as the kwarg facts a call would give
                for st in body:
                    if type(st) is ast.AnnAssign and type(st.target) is ast.Name:
                        value = "" if st.value is None else _setting_value(st.value, folder)
                        fact("kwarg", f"{node.name}:{st.target.id}={value}", unit, base + st.lineno)
        elif k == _FSTR:
            if id(node) in skip:
                for v in node.values:
                    skip.add(id(v))
                continue
            has_const = False
            for v in node.values:
                if type(v) is ast.Constant:
                    skip.add(id(v))
                    has_const = True
            if has_const:
                r = folder.fold(node)
                if r is not None and isinstance(r[0], str):
                    col.string(r[0], unit, base + node.lineno, decode_literal=False)
        elif k == _BINOP:
            if type(node.op) is not ast.Add or id(node) in skip:
                continue
            left = node.left
            while type(left) is ast.BinOp:  # fold a chain once, from its top
                skip.add(id(left))
                left = left.left
            r = folder.fold(node) if type(left) in (ast.Constant, ast.Name, ast.Call) else None
            if r is not None and isinstance(r[0], str) and r[1]:
                _hidden_string(col, unit, r, base + node.lineno)
            elif r is None:
                _constant_runs(col, unit, node, folder, base + node.lineno)
    for node, name in calls:
        _call(col, unit, node, name, folder, base + node.lineno)


#: IPython expands ``{expr}`` and ``$name`` in a ``!`` line (and line magics) with the values
#: of Python variables before the shell sees it; ``{{``/``$$`` stay literal. Only plain names
#: whose value is a constant the folder knows are expanded; others are left as written.
_IPY_VAR = re.compile(r"(?<![{$])\{([A-Za-z_]\w*)\}(?!\})|(?<!\$)\$\{?([A-Za-z_]\w*)\}?")


def _ipython_expander(col, tree: ast.Module | None):
    """A function expanding IPython variables in a shell line, from the names this cell
    assigns at any level (IPython runs the cell top to bottom; a name set anywhere is taken)
    over those of earlier cells."""
    local: dict[str, ast.AST] = {}
    local_aliases: dict[str, str] = {}
    if tree is not None:
        for node in _statements(tree):
            if type(node) is ast.Assign and len(node.targets) == 1 and type(node.targets[0]) is ast.Name:
                local[node.targets[0].id] = node.value
            elif type(node) is ast.Import or type(node) is ast.ImportFrom and node.module:
                local_aliases.update(_bound_names(node))
    folder = Folder(ChainMap(local, col.py_env), ChainMap(local_aliases, col.aliases))

    def value(name: str) -> str | None:
        if name not in folder.env:
            return None
        r = folder.fold(ast.Name(name, ast.Load()))
        if r is None or isinstance(r[0], bytes) or "\n" in str(r[0]) or len(str(r[0])) > 4096:
            return None
        return str(r[0])

    def expand(text: str) -> str:
        def sub(m: re.Match) -> str:
            v = value(m.group(1) or m.group(2))
            return m.group(0) if v is None else v
        return _IPY_VAR.sub(sub, text)
    return expand


def _statements(tree: ast.Module):
    """Every statement of a module (and the handlers and cases that hold statements), in
    ``ast.walk``'s order, without visiting a single expression: assignments and imports are
    statements, and this runs before the walk of the same tree."""
    queue = deque([tree])
    while queue:
        node = queue.popleft()
        yield node
        for f in node._fields:
            if f in _BODIES:
                queue.extend(getattr(node, f) or ())


def _bound_names(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """The names an import binds and what each stands for: ``import a.b`` binds ``a``,
    ``import a.b as c`` binds ``c`` -> ``a.b``, ``from m import x as y`` binds ``y`` -> ``m.x``."""
    if type(node) is ast.Import:
        return [(a.asname, a.name) if a.asname else (a.name.split(".")[0],) * 2 for a in node.names]
    mod = node.module or ""
    return [(a.asname or a.name, f"{mod}.{a.name}" if mod else a.name) for a in node.names]


def _module_owner(target: ast.Attribute, aliases: dict[str, str]) -> str | None:
    """`tool.globals.source_path = "face.jpg"` configures an imported module the way a
    keyword argument configures a call (roop-style tools are driven this way), and is
    recorded as the kwarg fact "globals:source_path=face.jpg". The owner ("globals") only
    for objects rooted in an import, so `self.x = y` in class code adds nothing. A plain
    name's attribute (`args.driven_audio = path`) is an options namespace filled in by code,
    as a server drives a command-line tool it imports, and is recorded as "args:driven_audio=?"."""
    root = target.value
    if type(root) is ast.Name and root.id not in aliases and root.id not in ("self", "cls"):
        return root.id
    while type(root) is ast.Attribute:
        root = root.value
    if type(root) is not ast.Name or root.id not in aliases:
        return None
    return _dotted(target.value, aliases).rsplit(".", 1)[-1]


def _setting_value(v: ast.AST, folder: Folder):
    """The value of a keyword argument or module setting as a kwarg fact shows it: the
    constant, a split or hidden constant folded back, or "?" when unknown (the keyword is
    the library's API, which an evader cannot rename)."""
    if type(v) is ast.Constant and isinstance(v.value, (str, bool, int, float)):
        return v.value
    folded = folder.fold(v) if type(v) in (ast.BinOp, ast.JoinedStr, ast.Call, ast.Name) else None
    return folded[0] if folded is not None and isinstance(folded[0], (str, int)) else "?"


def _skip_literal(node: ast.AST, skip: set[int]) -> None:
    if type(node) is ast.Constant:
        skip.add(id(node))
    elif type(node) is ast.JoinedStr:
        skip.add(id(node))
        for v in node.values:
            skip.add(id(v))


def _constant_runs(col, unit: Unit, node: ast.BinOp, folder: Folder, line: int) -> None:
    """A `+` chain that does not fold as a whole (a variable in it) may still hold a string
    split into adjacent pieces: `'--url=stra' + 'tum+tcp://' + host`. Each run of two or more
    adjacent pieces that fold to strings is joined back and read as the string it spells."""
    parts, n = [], node
    while type(n) is ast.BinOp and type(n.op) is ast.Add:
        parts.append(n.right)
        n = n.left
    parts.append(n)
    parts.reverse()
    run: list[str] = []
    for p in parts + [None]:
        f = folder.fold(p) if p is not None else None
        if f is not None and isinstance(f[0], str):
            run.append(f[0])
            continue
        if len(run) >= 2:
            _hidden_string(col, unit, ("".join(run), "concat"), line)
        run = []


def _hidden_string(col, unit: Unit, folded, line: int) -> None:
    value, how = folded
    text = as_text(value)
    if text is None or len(text) < 3:
        return
    origin = unit.origin if unit.hidden else Fact("string", "", unit, line).snippet
    sub = Unit(text, "text", unit.cell, line, unit.hidden + (how not in ("", "concat")), f"{how}", origin)
    col.fact("string", text, sub, line)
    col.derived(text, sub, line)


def _call(col, unit: Unit, node: ast.Call, name: str, folder: Folder, line: int) -> None:
    short = name.rsplit(".", 1)[-1]
    col.fact("call", name, unit, line)
    for kw in node.keywords:
        if kw.arg:
            col.fact("kwarg", f"{short}:{kw.arg}={_setting_value(kw.value, folder)}", unit, line)
    if not node.args or (name not in _SPECIAL_CALLS and short not in _SPECIAL_SHORT):
        return
    arg0 = node.args[0]
    if name in _SHELL_CALLS or (short in _SHELL_SHORT
                                and name.startswith(("os.", "subprocess.", "sp.", "get_ipython"))):
        shell_kw = any(kw.arg == "shell" and type(kw.value) is ast.Constant and kw.value.value is True
                       for kw in node.keywords)
        cmd = _command_text(arg0, folder, shell_kw)
        if name.startswith(("os.exec", "os.spawn", "os.posix_spawn", "asyncio.create_subprocess_exec")):
            # an argv spread from a list (create_subprocess_exec(*cmd)) is read as that list
            parts = [_command_text(a.value, folder) if type(a) is ast.Starred else _fold_text(a, folder)
                     for a in node.args[1 if name.startswith("os.spawn") else 0:]]
            # (an argument of unknown value is '?', as in an argv list)
            cmd = " ".join(p if p else "?" for p in parts) if any(parts) else ""
        if cmd:
            folded = folder.fold(arg0)
            how = folded[1] if folded and folded[1] not in ("", "concat") else ""
            if how:
                col.unit(cmd, SHELL, unit, line, how + " -> shell")
            else:
                col.shell(cmd, unit, line)
    elif name in _EXEC_CALLS or short in ("exec", "eval") and name.startswith("builtins"):
        folded = folder.fold(arg0)
        if folded is not None:
            text = as_text(folded[0])
            if text:
                col.unit(text, PYTHON, unit, line, (folded[1] or "string") + f" -> {name}")
    elif name in _MAGIC_CALLS:
        magic = _fold_text(arg0, folder) or ""
        rest = [_fold_text(a, folder) or "" for a in node.args[1:]]
        col.fact("call", f"%{magic}", unit, line)
        if magic in ("pip", "conda", "sx", "system") and rest:
            col.shell(("" if magic in ("sx", "system") else magic + " ") + rest[0], unit, line)
        elif magic in ("bash", "sh", "script") and len(rest) >= 2:
            col.shell(rest[1], unit, line + 1)
        elif magic == "writefile" and len(rest) >= 2:
            written_file(col, unit, rest[0], rest[1], line)
    elif short == "join" and type(node.func) is ast.Attribute:
        folded = folder.fold(node)
        if folded is not None and folded[1]:
            _hidden_string(col, unit, folded, line)
    elif short in _DECODE_SHORT:
        folded = folder.fold(node)
        if folded is not None and folded[1]:
            text = as_text(folded[0])
            if text:
                # decoded text that parses as Python is analysed as code, anything else as a string
                lang = PYTHON if _parse(text) is not None and ("(" in text or "import" in text) else "text"
                col.unit(text, lang, unit, line, folded[1])


def _fold_text(node: ast.AST, folder: Folder) -> str | None:
    r = folder.fold(node)
    if r is None:
        if type(node) is ast.Attribute and _dotted(node, {}) == "sys.executable":
            return "python"
        return None
    return as_text(r[0]) if not isinstance(r[0], int) else str(r[0])


def _command_text(node: ast.AST, folder: Folder, shell: bool = False) -> str | None:
    """A command line from a string or an argv list; unknown list items become '?'. With
    shell=True a one-item list is a whole shell line; ``shlex.split(s)`` and ``s.split()``
    are read as ``s``."""
    if type(node) in (ast.List, ast.Tuple):
        parts = [_fold_text(e, folder) for e in node.elts]
        if not any(parts):
            return None
        if shell and len(parts) == 1:
            return parts[0]
        return " ".join(_quote(p) if p is not None else "?" for p in parts)
    if type(node) is ast.Name and node.id in folder.env and type(folder.env[node.id]) in (ast.List, ast.Tuple):
        return _command_text(folder.env[node.id], folder, shell)
    if type(node) is ast.BinOp and type(node.op) is ast.Add:
        # an argv joined from lists (["python", "entry.py"] + args), a list of unknown
        # content read as one '?'
        elts = _argv_elts(node, folder, 0)
        if elts is not None:
            parts = [_fold_text(e, folder) if e is not None else None for e in elts]
            if any(parts):
                return " ".join(_quote(p) if p is not None else "?" for p in parts)
    if type(node) is ast.Call and len(node.args) <= 1:
        f = node.func
        if type(f) is ast.Attribute and f.attr == "split" and not node.args:  # s.split()
            return _fold_text(f.value, folder)
        if _dotted(f, {}) in ("shlex.split", "split") and node.args:  # shlex.split(s)
            return _fold_text(node.args[0], folder)
    return _fold_text(node, folder) or _partial_command(node, folder)


def _argv_elts(node: ast.AST, folder: Folder, depth: int) -> list | None:
    """The items of an argv list built with `+` from lists (literal or held in names), None
    standing for a part of unknown content; None when no part is a list."""
    if type(node) in (ast.List, ast.Tuple):
        return list(node.elts)
    if type(node) is ast.Name and type(folder.env.get(node.id)) in (ast.List, ast.Tuple):
        return list(folder.env[node.id].elts)
    if type(node) is ast.BinOp and type(node.op) is ast.Add and depth < 8:
        left, right = _argv_elts(node.left, folder, depth + 1), _argv_elts(node.right, folder, depth + 1)
        if left is None and right is None:
            return None
        return (left if left is not None else [None]) + (right if right is not None else [None])
    return None


def _partial_command(node: ast.AST, folder: Folder) -> str | None:
    """A command line built with `+` from literals and a few values known only at run time
    (`prog + " --server " + ip + " --user " + wallet`, often through names that hold the
    pieces): the known pieces in order, each unknown one as `{}` (as an f-string's unknown
    field is read), when at least half of the pieces are known. Only commands handed to a
    shell call come here, never every string."""
    parts: list[str | None] = []
    stack, hops = [node], 0
    while stack and len(parts) < 64:
        n = stack.pop()
        if type(n) is ast.Name and n.id in folder.env and hops < 8:
            hops += 1
            v = folder.env[n.id]
            if type(v) is ast.BinOp and type(v.op) is ast.Add:
                n = v
        if type(n) is ast.BinOp and type(n.op) is ast.Add:
            f = folder.fold(n)
            if f is None:
                stack += [n.right, n.left]
                continue
        else:
            f = folder.fold(n)
        parts.append(as_text(f[0]) if f is not None and not isinstance(f[0], int) else
                     str(f[0]) if f is not None else None)
    known = [p for p in parts if p]
    if len(parts) < 2 or len(known) * 2 < len(parts) or not "".join(known).strip():
        return None
    return "".join(p if p is not None else "{}" for p in parts)


def _quote(s: str) -> str:
    return f"'{s}'" if (" " in s or not s) and "'" not in s else s
