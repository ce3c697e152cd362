"""Bounded constant folding: what a Python expression evaluates to when it is built only from
constants, so that split strings, ``''.join``, ``chr()`` sequences, base64 / hex / rot13 /
zlib layers and ``bytes.fromhex`` are read as the text they hide.

Nothing is executed. Every step has a size cap, decompression is streamed with a ceiling (a
decode bomb yields its first megabyte, not a crash), and recursion is limited, so hostile
input costs bounded time and memory.
"""
from __future__ import annotations

import ast
import base64
import binascii
import bz2
import codecs
import lzma
import re
import zlib

MAX_VALUE = 1 << 20  # the longest string or bytes a fold may produce
MAX_DEPTH = 40  # nesting of expressions followed
MAX_NAME_HOPS = 8  # variable -> variable -> ... chains followed

_B64 = {"b64decode": base64.b64decode, "standard_b64decode": base64.standard_b64decode,
        "urlsafe_b64decode": base64.urlsafe_b64decode, "b32decode": base64.b32decode,
        "b16decode": base64.b16decode, "b85decode": base64.b85decode, "a85decode": base64.a85decode,
        "decodebytes": base64.decodebytes, "a2b_base64": binascii.a2b_base64,
        "unhexlify": binascii.unhexlify, "a2b_hex": binascii.a2b_hex}


def inflate(data: bytes, kind: str) -> bytes:
    """Decompress ``data`` (kind "zlib" also takes gzip, "raw", "bz2", "xz"), at most
    MAX_VALUE bytes of output: a decode bomb yields its first megabyte."""
    if kind == "zlib":
        d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header
    elif kind == "raw":
        d = zlib.decompressobj(-zlib.MAX_WBITS)
    elif kind == "bz2":
        d = bz2.BZ2Decompressor()
        out = d.decompress(data, max_length=MAX_VALUE)
        return out
    else:
        d = lzma.LZMADecompressor()
        return d.decompress(data, max_length=MAX_VALUE)
    return d.decompress(data, MAX_VALUE)


class Folder:
    """Folds expressions of one module; ``env`` maps simple names to the expression last
    assigned to them, so ``cmd = b64decode(x).decode(); os.system(cmd)`` folds ``cmd``."""

    def __init__(self, env: dict[str, ast.AST] | None = None, aliases: dict[str, str] | None = None):
        # the caller's dicts themselves, not copies: a walk folds with what it has seen so far
        self.env = env if env is not None else {}
        self.aliases = aliases if aliases is not None else {}

    def fold(self, node: ast.AST) -> tuple[str | bytes | int, str] | None:
        """(value, how) or None when the value is not a constant. ``how`` is "" for a plain
        literal and names the transformations otherwise ("concat", "base64", ...)."""
        try:
            return self._fold(node, 0, 0)
        except (RecursionError, MemoryError, ValueError, TypeError, OverflowError, binascii.Error,
                zlib.error, lzma.LZMAError, OSError, EOFError, UnicodeError, IndexError, KeyError):
            return None

    # -- internals -------------------------------------------------------------------
    def _name(self, func: ast.AST) -> str:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if isinstance(func, ast.Name):
            parts.append(self.aliases.get(func.id, func.id))
        else:
            parts.append("?")
        return ".".join(reversed(parts))

    def _fold(self, node, depth, hops):
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (str, bytes)) or (isinstance(v, int) and not isinstance(v, bool)):
                return v, ""
            return None
        if isinstance(node, ast.Name):
            if hops >= MAX_NAME_HOPS or node.id not in self.env:
                return None
            return self._fold(self.env[node.id], d, hops + 1)
        if isinstance(node, ast.JoinedStr):
            parts, hows = [], set()
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue):
                    f = self._fold(v.value, d, hops)
                    if f is None or isinstance(f[0], bytes):
                        parts.append("{}")
                    else:
                        parts.append(str(f[0]))
                        hows.add(f[1] or "concat")
            return _cap("".join(parts)), "+".join(sorted(h for h in hows if h))
        if isinstance(node, ast.BinOp):
            return self._binop(node, d, hops)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self._fold(node.operand, d, hops)
            return (-inner[0], inner[1]) if inner and isinstance(inner[0], int) else None
        if isinstance(node, ast.Subscript):
            base = self._fold(node.value, d, hops)
            s = node.slice
            if base and isinstance(s, ast.Slice) and s.lower is None and s.upper is None and s.step is not None:
                step = self._fold(s.step, d, hops)
                if step and step[0] == -1 and isinstance(base[0], (str, bytes)):
                    return base[0][::-1], _how(base[1], "reversed")
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            return None
        if isinstance(node, ast.Call):
            return self._call(node, d, hops)
        return None

    def _binop(self, node, d, hops):
        left = self._fold(node.left, d, hops)
        if left is None:
            return None
        if isinstance(node.op, ast.Mod) and isinstance(left[0], str):
            return self._percent(left[0], node.right, left[1], d, hops)
        right = self._fold(node.right, d, hops)
        if right is None:
            return None
        (lv, lh), (rv, rh) = left, right
        if isinstance(node.op, ast.Add) and type(lv) is type(rv) and not isinstance(lv, int):
            if len(lv) + len(rv) > MAX_VALUE:
                return None
            return lv + rv, _how(lh, rh, "concat")
        if isinstance(node.op, ast.Mult):
            if isinstance(lv, (str, bytes)) and isinstance(rv, int) and 0 <= rv and len(lv) * rv <= MAX_VALUE:
                return lv * rv, _how(lh, rh)
            return None
        if isinstance(node.op, (ast.Add, ast.Sub, ast.BitXor)) and isinstance(lv, int) and isinstance(rv, int):
            if abs(lv) < 1 << 32 and abs(rv) < 1 << 32:
                v = lv + rv if isinstance(node.op, ast.Add) else lv - rv if isinstance(node.op, ast.Sub) else lv ^ rv
                return v, _how(lh, rh)
        return None

    def _percent(self, template, right, how, d, hops):
        """``"%s%s" % (a, b)`` with plain ``%s`` / ``%d`` / ``%%`` only: a width or precision
        ("%99999999s") could make a huge string, so those are not folded."""
        if not _PLAIN_PERCENT.fullmatch(template):
            return None
        items = self._elements(right, d, hops) if isinstance(right, (ast.Tuple, ast.List)) else None
        if items is None:
            one = self._fold(right, d, hops)
            if one is None:
                return None
            items = [one]
        if any(isinstance(v, bytes) for v, _ in items):
            return None
        return _cap(template % tuple(v for v, _ in items)), _how(how, *(h for _, h in items), "format")

    def _format(self, template, node, how, d, hops):
        """``"{}{}".format(a, b)`` / ``"{x}".format(x=...)`` with bare fields only: a format
        spec ("{:>99999999}") or attribute access is not folded."""
        if not _PLAIN_BRACES.fullmatch(template):
            return None
        args = [self._fold(a, d, hops) for a in node.args]
        kwargs = {k.arg: self._fold(k.value, d, hops) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords) or any(a is None or isinstance(a[0], bytes) for a in args) \
                or any(v is None or isinstance(v[0], bytes) for v in kwargs.values()):
            return None
        value = template.format(*(v for v, _ in args), **{k: v for k, (v, _) in kwargs.items()})
        return _cap(value), _how(how, *(h for _, h in args), *(h for _, h in kwargs.values()), "format")

    def _elements(self, node, d, hops):
        """The folded items of a list, tuple, generator ``chr(c) for c in [...]`` or
        ``map(chr, [...])``; None if any item is not constant."""
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._fold(e, d, hops) for e in node.elts]
            return None if any(i is None for i in items) else items
        if isinstance(node, ast.Name) and node.id in self.env and hops < MAX_NAME_HOPS:
            return self._elements(self.env[node.id], d, hops + 1)
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
            gen = node.generators[0]
            src = self._elements(gen.iter, d, hops)
            if src is None or not isinstance(gen.target, ast.Name) or gen.ifs:
                return None
            elt, var = node.elt, gen.target.id
            # chr(c), chr(c ^ k), chr(c - k): the shapes obfuscators emit
            if isinstance(elt, ast.Call) and self._name(elt.func) == "chr" and len(elt.args) == 1:
                out = []
                for v, _ in src:
                    sub = Folder({**self.env, var: ast.Constant(v)}, self.aliases)
                    r = sub._fold(elt.args[0], d, hops)
                    if r is None or not isinstance(r[0], int):
                        return None
                    out.append((chr(r[0] % 0x110000), "chr"))
                return out
            return None
        if isinstance(node, ast.Call) and self._name(node.func) == "map" and len(node.args) == 2:
            fn = self._name(node.args[0])
            src = self._elements(node.args[1], d, hops)
            if src is None:
                return None
            if fn == "chr" and all(isinstance(v, int) for v, _ in src):
                return [(chr(v % 0x110000), "chr") for v, _ in src]
            if fn == "str":
                return [(str(v), h) for v, h in src]
        return None

    def _call(self, node, d, hops):
        func = node.func
        args = node.args
        name = self._name(func)
        short = name.rsplit(".", 1)[-1]
        if isinstance(func, ast.Attribute):
            recv = func.value
            if short == "join" and len(args) == 1:
                sep = self._fold(recv, d, hops)
                items = self._elements(args[0], d, hops)
                if sep is None or items is None or not all(type(v) is type(sep[0]) for v, _ in items):
                    return None
                return _cap(sep[0].join(v for v, _ in items)), _how(*(h for _, h in items), "join")
            if short in ("decode", "encode") and isinstance(recv, ast.AST):
                inner = self._fold(recv, d, hops)
                if inner is not None:  # else a module's decode (codecs.decode): handled below
                    v, h = inner
                    enc = "utf-8"
                    if args:
                        e = self._fold(args[0], d, hops)
                        if e and isinstance(e[0], str):
                            enc = e[0]
                    if short == "decode" and isinstance(v, bytes):
                        return _codec(v, enc, h)
                    if short == "encode" and isinstance(v, str):
                        if _norm_codec(enc) == "rot13":
                            return codecs.encode(v, "rot13"), _how(h, "rot13")
                        return v.encode("utf-8", "replace"), h
                    return None
            if short == "format":
                inner = self._fold(recv, d, hops)
                if inner is None or not isinstance(inner[0], str):
                    return None
                return self._format(inner[0], node, inner[1], d, hops)
            if short in ("replace", "lower", "upper", "strip", "lstrip", "rstrip"):
                inner = self._fold(recv, d, hops)
                if inner is None or not isinstance(inner[0], (str, bytes)):
                    return None
                v, h = inner
                if short == "replace" and len(args) == 2:
                    a, b = self._fold(args[0], d, hops), self._fold(args[1], d, hops)
                    if a is None or b is None or type(a[0]) is not type(v) or type(b[0]) is not type(v):
                        return None
                    return _cap(v.replace(a[0], b[0])), _how(h, "replace")
                if short in ("lower", "upper", "strip", "lstrip", "rstrip") and not args:
                    return getattr(v, short)(), h
                return None
        if short in _B64 and args:
            inner = self._fold(args[0], d, hops)
            if inner is None or not isinstance(inner[0], (str, bytes)):
                return None
            v = inner[0].encode("latin-1", "ignore") if isinstance(inner[0], str) else inner[0]
            kind = "hex" if short in ("unhexlify", "a2b_hex", "b16decode") else short.replace("decode", "") or "base64"
            return _cap(_B64[short](v)), _how(inner[1], "base64" if "64" in kind or kind == "decodebytes" else kind)
        if name in ("bytes.fromhex", "bytearray.fromhex") and args:
            inner = self._fold(args[0], d, hops)
            if inner and isinstance(inner[0], str):
                return bytes.fromhex(inner[0]), _how(inner[1], "hex")
            return None
        if short in ("decompress",) and args and name.split(".")[0] in ("zlib", "gzip", "bz2", "lzma"):
            inner = self._fold(args[0], d, hops)
            if inner and isinstance(inner[0], bytes):
                mod = name.split(".")[0]
                return inflate(inner[0], {"gzip": "zlib"}.get(mod, mod)), _how(inner[1], mod)
            return None
        if name == "codecs.decode" and args:
            inner = self._fold(args[0], d, hops)
            enc = self._fold(args[1], d, hops) if len(args) > 1 else ("utf-8", "")
            if inner is None or enc is None or not isinstance(enc[0], str):
                return None
            v, h = inner
            return _codec(v, enc[0], h)
        if name == "chr" and len(args) == 1:
            inner = self._fold(args[0], d, hops)
            if inner and isinstance(inner[0], int):
                return chr(inner[0] % 0x110000), "chr"
            return None
        if name in ("bytes", "bytearray") and len(args) == 1:
            items = self._elements(args[0], d, hops)
            if items is not None and all(isinstance(v, int) for v, _ in items):
                return bytes(v % 256 for v, _ in items), "bytes"
            inner = self._fold(args[0], d, hops)
            return inner if inner and isinstance(inner[0], bytes) else None
        if name == "str" and len(args) == 1:
            inner = self._fold(args[0], d, hops)
            return (str(inner[0]), inner[1]) if inner and not isinstance(inner[0], bytes) else None
        return None


def _norm_codec(enc: str) -> str:
    """codecs accepts 'rot13', 'rot_13', 'rot-13' and 'rot 13' alike; so do we."""
    return enc.replace("-", "").replace("_", "").replace(" ", "").lower()


def _codec(v: str | bytes, enc: str, how: str):
    e = {"rot13": "rot13", "hex": "hex", "hexcodec": "hex", "base64": "base64", "base64codec": "base64",
         "zlib": "zlib", "zlibcodec": "zlib"}.get(_norm_codec(enc), enc)
    if e == "rot13":
        s = v if isinstance(v, str) else v.decode("latin-1")
        return codecs.decode(s, "rot13"), _how(how, "rot13")
    if e == "hex":
        b = v if isinstance(v, bytes) else v.encode("latin-1", "ignore")
        return binascii.unhexlify(b), _how(how, "hex")
    if e == "base64":
        b = v if isinstance(v, bytes) else v.encode("latin-1", "ignore")
        return base64.b64decode(b), _how(how, "base64")
    if e == "zlib" and isinstance(v, bytes):
        return inflate(v, "zlib"), _how(how, "zlib")
    if isinstance(v, bytes):
        try:
            return v.decode(enc, "replace"), how
        except LookupError:
            return None
    return None


def _cap(v):
    if len(v) > MAX_VALUE:
        raise ValueError("folded value too large")
    return v


def _how(*parts: str) -> str:
    seen = []
    for p in parts:
        for q in (p or "").split("+"):
            if q and q not in seen:
                seen.append(q)
    return "+".join(seen)


def as_text(value) -> str | None:
    """A folded value as text when it is text-like (mostly printable); None for binary."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            s = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return s if _printable(s) else None
    return None


# templates whose every placeholder is bare: folding them cannot blow up the value's size
_PLAIN_PERCENT = re.compile(r"(?:[^%]|%[sdr%])*", re.S)
_PLAIN_BRACES = re.compile(r"(?:[^{}]|\{\{|\}\}|\{(?:\d{1,2}|[A-Za-z_]\w{0,30})?\})*", re.S)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_TEXTY = re.compile(r"[^\w ./:\-=\n]")


def _printable(s: str) -> bool:
    if not s:
        return False
    sample = s[:4096]
    return len(_CONTROL.findall(sample)) * 20 < len(sample)


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n")


def try_base64_literal(s: str) -> str | None:
    """A plain string literal that is itself base64 of readable text (the form substring
    blocklists also look for). Only literals of plausible size and alphabet are tried."""
    if not (16 <= len(s) <= 65536) or " " in s:
        return None
    b = s.encode("latin-1", "ignore")
    if not _B64_ALPHABET.issuperset(b):
        return None
    try:
        raw = base64.b64decode(b + b"=" * (-len(b) % 4), altchars=b"-_" if b"-" in b or b"_" in b else None)
    except (binascii.Error, ValueError):
        return None
    text = as_text(raw)
    if text is None or len(text) < 6:
        return None
    sample = text[:2048]
    return text if len(_NOT_TEXTY.findall(sample)) * 10 <= len(sample) else None
