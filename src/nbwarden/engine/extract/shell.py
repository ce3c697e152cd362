"""Shell command lines to facts: the program each simple command runs (wrappers such as
``sudo``, ``nohup``, ``bash -c`` unwrapped), the whole command, packages installed,
repositories cloned, URLs fetched, files named, and behaviours that only show across a
pipeline or a sequence (``curl ... | sh``, ``chmod +x f`` then ``./f``, ``echo <b64> | base64
-d | sh``)."""
from __future__ import annotations

import base64
import binascii
import lzma
import re
import zlib

from ..deobfuscate import as_text, inflate

_WRAPPERS = {"sudo", "nohup", "exec", "time", "nice", "ionice", "setsid", "stdbuf", "env", "command",
             "builtin", "doas", "chronic", "unbuffer", "torsocks", "proxychains", "proxychains4"}
#: wrappers that start a program under a CPU limit or affinity, and their options that take a value
_LIMITERS = {"taskset": {"-c", "--cpu-list", "-p", "--pid"}, "cpulimit": {"-l", "--limit", "-p", "--pid", "-e", "--exe"},
             "chrt": {"-T", "-P", "-D", "-p", "--pid"}}
_MASK = re.compile(r"^(?:0x[0-9a-fA-F]+|\d[\d,-]*)$")
_SHELLS = {"sh", "bash", "zsh", "dash", "ash", "ksh"}
_PYTHONS = re.compile(r"^python[\d.]*$")
_SUBST = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20})://([^\s'\"<>()\[\]{}|\\^`]+)")
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_ASSIGN = re.compile(r"^[A-Za-z_]\w*=")
_INSTALL_CMDS = {("pip", "install"), ("pip3", "install"), ("conda", "install"), ("mamba", "install"),
                 ("apt", "install"), ("apt-get", "install"), ("npm", "install"), ("npm", "i"),
                 ("yarn", "add"), ("gem", "install"), ("cargo", "install"), ("uv", "pip"), ("uv", "add"),
                 ("pipx", "install"), ("brew", "install"), ("snap", "install"), ("go", "install"),
                 ("pnpm", "add"), ("apk", "add"), ("yum", "install"), ("dnf", "install"), ("pkg", "install")}
#: installers whose own options may come before the sub-command (`apt-get -y install x`,
#: `pip -q install x`), and those of their options that take a value (`apt-get -o K=V install`)
_INSTALL_OPTS_FIRST = {"apt", "apt-get", "pip", "pip3", "yum", "dnf", "pkg", "conda", "mamba", "brew", "npm", "apk"}
_INSTALL_VALUE_OPTS = {"-o", "-c", "-t", "--option", "--config-file", "--target-release"}
_DOWNLOADERS = {"wget", "curl", "aria2c", "gdown", "axel"}
_TMP_DIRS = ("/tmp/", "/dev/shm/", "/var/tmp/", "/run/shm/")
MAX_COMMAND = 4096


_TOKEN = re.compile(r"""
    (?P<ws>[ \t]+)
  | (?P<op>&&|\|\||;;|\|&|[|;&()])
  | (?P<redir>\d*(?:>>|>&|<<<|<<|<>|>|<)\d*-?)
  | (?P<sq>'[^']*'?)
  | (?P<dq>"(?:[^"\\]|\\.)*"?)
  | (?P<esc>\\.?)
  | (?P<sub>\$\([^()]*(?:\([^()]*\)[^()]*)*\)?|`[^`]*`?)
  | (?P<comment>\#.*)
  | (?P<word>[^\s'"\\|&;()<>#$`]+|[$#])
""", re.X | re.S)


def tokenize(line: str) -> list[tuple[str, str]]:
    """Shell words and operators of one line: [("word", "a b"), ("op", "|"), ...]. Quotes
    are removed as the shell would; an unterminated quote runs to the end of the line.
    Linear time (shlex is quadratic on long tokens)."""
    out: list[tuple[str, str]] = []
    word: list[str] | None = None
    for m in _TOKEN.finditer(line):
        kind, text = m.lastgroup, m.group()
        if kind in ("ws", "op", "redir") or (kind == "comment" and word is None):
            if word is not None:
                out.append(("word", "".join(word)))
                word = None
            if kind == "op":
                out.append(("op", text))
            elif kind == "redir":
                out.append(("redir", text))
            elif kind == "comment":
                break
            continue
        if word is None:
            word = []
        if kind == "sq":
            word.append(text[1:-1] if text.endswith("'") and len(text) > 1 else text[1:])
        elif kind == "dq":
            body = text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:]
            word.append(body.replace('\\"', '"').replace("\\\\", "\\") if "\\" in body else body)
        elif kind == "esc":
            word.append(text[1:])
        elif kind == "sub":  # $(cmd) / `cmd` stays inside its word; its value is unknown
            word.append("?")
        else:
            word.append(text)
    if word is not None:
        out.append(("word", "".join(word)))
    return out


_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_][\w.-]*)\2")  # not a `<<<` here-string


MAX_JOINED_LINES = 500
# reserved words after which a command starts on the same line (`while true; do ./w; done`,
# `if [ -f x ]; then ./x; fi`): the command is what follows, not the keyword
_PREFIX_WORDS = {"do", "then", "else", "elif", "if", "while", "until", "!", "{"}


def _open_quote(s: str) -> bool:
    """Does this shell text end inside a quoted string? (Linear scan; comments end it.)"""
    quote = None
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if quote is None:
            if ch == "\\":
                i += 1
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and (i == 0 or s[i - 1] in " \t;&|("):
                return False
        elif ch == quote:
            quote = None
        elif ch == "\\" and quote == '"':
            i += 1
        i += 1
    return quote is not None


def split_commands(text: str) -> tuple[list[tuple[list[tuple[list[str], str]], int]], list[tuple]]:
    """Pipelines of simple commands, each with the 0-based line it starts on, and heredoc
    bodies (body, first line, the command line that opened it, that line's pipelines): a
    heredoc is often a whole script (``cat > run.py <<EOF``), so it is analysed as code, not
    as arguments, or the payload of its own line (``base64 -d <<EOF | bash``)."""
    lines = text.split("\n")
    pipelines: list[tuple[list[tuple[list[str], str]], int]] = []
    heredocs: list[tuple[str, int, str, list]] = []
    i = 0
    while i < len(lines):
        start = i
        s = lines[i]
        quoted = s  # the joined text less heredoc bodies: what decides whether a quote is open
        body_joined = False
        joined = 0
        while i + 1 < len(lines) and joined < MAX_JOINED_LINES:
            if s.endswith("\\"):  # continuation line
                s, quoted = s[:-1] + " " + lines[i + 1], quoted[:-1] + " " + lines[i + 1]
            elif _open_quote(quoted):  # a quoted argument that spans lines (python -c '...')
                s, quoted = s + "\n" + lines[i + 1], quoted + "\n" + lines[i + 1]
                m = _HEREDOC.search(lines[i + 1]) if "<<" in lines[i + 1] else None
                if m:  # `X="$(cmd <<'EOF'` : the body is data, its quotes open nothing
                    j = i + 2
                    while j < len(lines) and lines[j].strip() != m.group(3) and joined < MAX_JOINED_LINES:
                        s += "\n" + lines[j]
                        j += 1
                        joined += 1
                    if j < len(lines):
                        s, quoted = s + "\n" + lines[j], quoted + "\n" + lines[j]
                    i = j - 1 if j < len(lines) else j - 2
                    body_joined = True
            else:
                break
            i += 1
            joined += 1
        i += 1
        s = s.strip()
        if not s or s.startswith("#"):
            continue
        opened = None  # the heredoc this line opens, if any
        if "<<" in s and not body_joined:
            m = _HEREDOC.search(s)
            if m:
                delim, body_start = m.group(3), i
                while i < len(lines) and lines[i].strip() != delim:
                    i += 1
                opened = ("\n".join(lines[body_start:i]), body_start, s, [])
                heredocs.append(opened)
                i += 1
        first_pipe = len(pipelines)
        pipe: list[tuple[list[str], str]] = []
        argv: list[str] = []
        redirect = False
        for kind, tok in tokenize(s):
            if kind == "op":
                if argv:
                    pipe.append((argv, s))
                argv = []
                if tok not in ("|", "|&"):
                    if pipe:
                        pipelines.append((pipe, start))
                    pipe = []
            elif kind == "redir":
                # kept in the command (reverse shells and config writes live in redirections),
                # but the target is not an argument: it never becomes the program
                redirect = not tok.endswith(tuple("0123456789-")) or tok[-1] == "-"
                if tok.endswith("&") or tok in ("<<", "<<<"):
                    redirect = True
                if argv:
                    argv.append(tok)
            elif redirect:
                redirect = False
                if argv:
                    argv.append(tok)
            elif argv or tok not in _PREFIX_WORDS:
                argv.append(tok)
        if argv:
            pipe.append((argv, s))
        if pipe:
            pipelines.append((pipe, start))
        if opened is not None:  # the opener's own pipelines, tokenized once
            opened[3].extend(p for p, _ in pipelines[first_pipe:])
    return pipelines, heredocs


def unwrap(argv: list[str]) -> tuple[list[str], str | None]:
    """Strip wrappers and env assignments; returns (argv, inline_script). The inline script
    is the string of ``bash -c '...'``, or ``python -c '...'`` marked with a "py:" prefix."""
    i = 0
    while i < len(argv):
        a = argv[i]
        base = a.rsplit("/", 1)[-1]
        if _ASSIGN.match(a):
            i += 1
        elif base in _WRAPPERS:
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1 + (argv[i] in ("-u", "-n", "-g", "-c", "-o", "-e", "-i") and base != "env")
        elif base == "timeout":
            i += 1
            while i < len(argv) and (argv[i].startswith("-") or argv[i][:1].isdigit()):
                i += 1
        elif base in _LIMITERS:
            # CPU pinning and throttling wrappers: `taskset -c 0,1 X`, `taskset 0x3 X`,
            # `cpulimit -l 80 -- X`, `chrt -i 0 X`; the program they start is X
            j = i + 1
            while j < len(argv) and argv[j].startswith("-") and argv[j] != "--":
                j += 1 + (argv[j] in _LIMITERS[base])
            if j < len(argv) and argv[j] == "--":
                j += 1
            elif j < len(argv) and base != "cpulimit" and _MASK.match(argv[j]):
                j += 1  # taskset's mask, chrt's priority
            if j >= len(argv):  # it starts nothing (cpulimit -e NAME -l 50, taskset -p PID)
                break
            i = j
        elif base == "perf" and i + 1 < len(argv) and argv[i + 1] in ("record", "stat", "trace") and "--" in argv[i + 2:]:
            i = argv.index("--", i + 2) + 1  # perf record [options] -- X
        elif base in ("screen", "tmux"):
            typed = _typed_into_session(base, argv[i + 1:])
            if typed is not None:  # screen -X stuff "CMD\n", tmux send-keys "CMD" Enter
                return argv[i:], typed
            j = i + 1
            while j < len(argv) and (argv[j].startswith("-") or argv[j] in ("new", "new-session")):
                takes_value = argv[j].startswith("-") and argv[j][-1] in "SsntcLp" and argv[j] != "-L"
                j += 1 + takes_value  # -dmS NAME, -s NAME, -c FILE, -p WINDOW
            if j >= len(argv):
                return argv[i:], None
            if j == len(argv) - 1 and any(c.isspace() for c in argv[j]):
                return argv[i:], argv[j]  # tmux new-session -d "CMD ARGS": a shell command line
            i = j
        elif base == "xargs":
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
        else:
            break
    argv = argv[i:]
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in _SHELLS:
        for k, a in enumerate(argv[1:-1], 1):
            if a.startswith("-") and "c" in a:
                return argv, argv[k + 1]
    if len(argv) >= 3 and _PYTHONS.match(argv[0].rsplit("/", 1)[-1]) and argv[1] == "-c":
        return argv, "py:" + argv[2]
    return argv, None


_TMUX_KEYS = {"enter", "c-m", "kpenter", "c-j"}


def _typed_into_session(base: str, args: list[str]) -> str | None:
    """Text typed into a running screen or tmux session, which its shell then runs as a
    command line: ``screen -S w -p 0 -X stuff "./w -o pool:3333\n"`` (``^M`` or a newline
    ends it), ``tmux send-keys -t w "./w -o pool:3333" Enter``. None when nothing is typed."""
    if base == "screen" and "-X" in args:
        k = args.index("-X")
        if k + 2 < len(args) and args[k + 1] == "stuff":
            return args[k + 2].replace("^M", "\n").replace("\\n", "\n").replace("\\r", "\n")
    if base == "tmux" and args and args[0] in ("send-keys", "send"):
        words, k = [], 1
        while k < len(args):
            if args[k] in ("-t", "-N", "-c") and k + 1 < len(args):
                k += 2
                continue
            if not args[k].startswith("-"):
                words.append("\n" if args[k].lower() in _TMUX_KEYS else args[k])
            k += 1
        typed = " ".join(words).replace(" \n", "\n").strip()
        return typed or None
    return None


_ECHO_FLAGS = {"-e", "-n", "-en", "-ne", "-E"}


def echoed_into_file(prog: str, argv: list[str]) -> tuple[str, str] | None:
    """(file, text) when ``echo`` / ``printf`` writes or appends its words to a file
    (``echo "./w -o pool:3333" >> run.sh``, how launchers generate the line they then run);
    None otherwise."""
    if prog not in ("echo", "printf"):
        return None
    for k, a in enumerate(argv[1:-1], 1):
        if a in (">", ">>", "1>", "1>>"):
            text = " ".join(w for w in argv[1:k] if w not in _ECHO_FLAGS)
            if prog == "printf" or "-e" in argv[1:k]:
                text = text.replace("\\n", "\n").replace("\\t", "\t")
            return (argv[k + 1], text) if text.strip() else None
    return None


def urls_in(s: str):
    if "://" not in s:
        return
    for m in _URL.finditer(s):
        scheme, rest = m.group(1).lower(), m.group(2)
        host = re.split(r"[/:?#]", rest.split("@")[-1], 1)[0].lower()
        yield f"{scheme}://{rest}", host, rest


def repo_of(url_rest: str, host: str) -> str | None:
    """'github.com/owner/name' for a URL into a code host, whatever follows the name."""
    if host.endswith(("github.com", "gitlab.com", "bitbucket.org", "huggingface.co", "codeberg.org", "gitee.com")):
        parts = url_rest.split("@")[-1].split("?")[0].split("#")[0].split("/")
        if len(parts) >= 3 and parts[1] and parts[2]:
            name = parts[2][:-4] if parts[2].endswith(".git") else parts[2]
            owner = parts[1]
            if host.endswith("huggingface.co") and owner in ("spaces", "datasets") and len(parts) >= 4:
                owner, name = f"{parts[1]}/{parts[2]}", parts[3]
            return f"{host.removeprefix('www.')}/{owner}/{name}".lower()
    if host in ("raw.githubusercontent.com", "objects.githubusercontent.com"):
        parts = url_rest.split("/")
        if len(parts) >= 3:
            return f"github.com/{parts[1]}/{parts[2]}".lower()
    return None


def _plain_args(argv: list[str]) -> list[str]:
    """Arguments without redirections and their targets."""
    out, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a and set(a) <= set("<>&0123456789-") and any(ch in a for ch in "<>"):
            skip = not a.endswith(tuple("0123456789-")) or a.endswith("-")
            continue
        out.append(a)
    return out


MAX_PAYLOAD = 1 << 20  # longest encoded text a pipeline is decoded from
_DECOMPRESSORS = {"gunzip": "zlib", "zcat": "zlib", "gzip": "zlib", "bunzip2": "bz2", "bzcat": "bz2",
                  "bzip2": "bz2", "unxz": "xz", "xzcat": "xz", "xz": "xz", "unlzma": "xz", "lzcat": "xz"}


def _decoder(argv: list[str]):
    """(name, the bytes -> bytes step) this command makes when it decodes its input
    (``base64 -d``, ``openssl enc -d -base64``, ``xxd -r -p``, ``rev``, ``tr`` between two sets
    such as rot13's, ``gunzip``, ``zcat``, ``xz -d``...), None for any other command."""
    prog = argv[0].rsplit("/", 1)[-1]
    if prog in ("base64", "openssl") and any(a in ("-d", "--decode", "-D", "-base64", "-a") for a in argv):
        return "base64", _unbase64
    if prog == "xxd" and "-r" in argv:
        return "hex", lambda b: binascii.unhexlify(b"".join(b.split()))
    if prog == "rev":
        return "rev", lambda b: b"\n".join(line[::-1] for line in b.split(b"\n"))
    if prog == "tr" and len(argv) == 3:
        src, dst = _tr_set(argv[1]), _tr_set(argv[2])
        if src and dst and len(src) == len(dst):
            table = bytes.maketrans(src, dst)
            return "tr", lambda b: b.translate(table)
    if prog in _DECOMPRESSORS and (prog not in ("gzip", "bzip2", "xz")
                                   or any(a in ("-d", "-dc", "-cd", "--decompress") for a in argv)):
        kind = _DECOMPRESSORS[prog]
        return prog, lambda b: inflate(b, kind)
    return None


def _unbase64(b: bytes) -> bytes:
    b = b"".join(b.split())  # base64 -d skips line breaks
    return base64.b64decode(b + b"=" * (-len(b) % 4))


def _tr_set(spec: str) -> bytes | None:
    """A ``tr`` set of plain characters and ranges (``A-Za-z``, ``N-ZA-Mn-za-m``), or None."""
    out, i = bytearray(), 0
    if not spec or len(spec) > 64 or not spec.isascii() or "[" in spec or "\\" in spec:
        return None
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-" and spec[i] <= spec[i + 2]:
            out.extend(range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(ord(spec[i]))
            i += 1
    return bytes(out)


def decode_pipeline(pipe: list[tuple[list[str], str]], heredoc: str | None = None) -> tuple[str, str, str] | None:
    """``echo <b64> | base64 -d | sh``, ``base64 -d <<< <b64> | sh``, ``base64 -d <<EOF | sh``
    (``heredoc``: the body), ``xxd -r -p``, ``rev``, rot13 by ``tr``, and such steps in a row
    (``base64 -d | gunzip | bash``): (hidden text, where it goes: "shell", "python" or
    "text"; the steps, "base64 | gunzip"), if the pipeline decodes one."""
    argvs = [argv for argv, _ in pipe]
    steps_of = [_decoder(argv) for argv in argvs]
    for i, argv in enumerate(argvs):
        if steps_of[i] is None:
            continue
        if "<<<" in argv and argv.index("<<<") + 1 < len(argv):
            payload = argv[argv.index("<<<") + 1]
        elif heredoc is not None and any(a.startswith("<<") for a in argv):
            payload = heredoc
        elif i > 0 and argvs[i - 1][0] in ("echo", "printf"):
            args = [a for a in _plain_args(argvs[i - 1]) if not a.startswith("-")]
            payload = args[-1] if args and (argvs[i - 1][0] == "echo" or len(args) == 1 or "%s" in args[0]) else None
        else:
            payload = None
        if not payload or len(payload) > MAX_PAYLOAD:
            continue
        raw, j, steps = payload.encode("latin-1", "ignore"), i, []
        try:
            while j < len(argvs) and steps_of[j] is not None:
                steps.append(steps_of[j][0])
                raw, j = steps_of[j][1](raw), j + 1
        except (binascii.Error, ValueError, OSError, EOFError, zlib.error, lzma.LZMAError):
            continue
        text = as_text(raw)
        if text is None:
            continue
        last = argvs[j][0].rsplit("/", 1)[-1] if j < len(argvs) else ""
        dest = "shell" if last in _SHELLS else "python" if _PYTHONS.match(last) else "text"
        return text, dest, " | ".join(steps)
    return None


def unpack_dest(prog: str, argv: list[str]) -> str | None:
    """The folder an unpacking command writes into (``unzip a.zip -d w``, ``tar -xf a.tgz -C w``,
    ``tar --directory=w``, ``7z x a.7z -ow``), as the first part of its path (``./w/sub`` -> ``w``),
    or None."""
    dest = None
    for i, a in enumerate(argv[1:], 1):
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if prog == "unzip" and a == "-d" or prog in ("tar", "bsdtar") and a in ("-C", "--directory"):
            dest = nxt
        elif prog == "unzip" and a.startswith("-d") and len(a) > 2:
            dest = a[2:]
        elif prog in ("tar", "bsdtar") and a.startswith("--directory="):
            dest = a.partition("=")[2]
        elif prog in ("7z", "7za") and a.startswith("-o") and len(a) > 2:
            dest = a[2:]
    if not dest or dest.startswith(("/", "$", "~")):
        return None
    first = top_folder(dest)
    return first if first not in ("", ".", "..") else None


def top_folder(path: str) -> str:
    """The first part of a relative path (``./w/sub/x`` -> ``w``): how unpacked folders are
    recorded and how a program run from one is recognised."""
    return path.removeprefix("./").split("/", 1)[0]
