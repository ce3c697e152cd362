#!/usr/bin/env python3
"""Rewrite files the way an evader would, to measure recall that does not depend on names.

usage: evade.py MANIFEST.tsv --corpus DIR --out DIR [--variants strip,rename,b64shell,split,all,decoy,all+weights]

For each row of a disallowed manifest, writes <out>/<variant>/<local_file>, so that
`../shared/eval/score MANIFEST --corpus <out>/<variant>` scores that variant. Variants:
  strip     drop markdown cells, comments and docstrings (the prose)
  rename    rename every tool, repository and binary name: known tool names (roop, facefusion,
            xmrig, ngrok...), every github/gitlab/huggingface owner/repo, and the name of each
            repository fetched wherever the file uses it (cd, paths, imports of the fork), every
            downloaded file name; library imports and the packages pip installs stay (pyngrok,
            colab_ssh: an evader cannot rename what pip installs and still run it)
  b64shell  hide every shell line behind base64 (`!cmd` -> get_ipython().system(b64decode(...)),
            shell scripts -> `echo <b64> | base64 -d | bash`)
  split     split every string literal of 6+ characters into concatenated halves
  all       all four at once
  weights   also rename every model-weight file (inswapper_128.onnx -> w1.onnx; .onnx .pth .pt
            .ckpt .safetensors .bin .pkl .dat .h5 .npy .index .tar .caffemodel), the stronger renaming
            of an evader who also re-hosts the weights; not part of `all`
  all+weights  `all` plus `weights`
  decoy     add one unused line naming deepfake-detection benchmarks (FaceForensics++, DFDC,
            ASVspoof...), as an evader would to pass for detection research; not part of `all`
The rewrites are mechanical and never look at labels: they model an evader, not our rules.
"""
from __future__ import annotations

import argparse
import base64
import csv
import ast
import json
import re
import sys
from pathlib import Path

TOOL_NAMES = """roop facefusion deep-live-cam deeplivecam deep_live_cam simswap sadtalker wav2lip liveportrait
rvc applio mangio so-vits-svc sovits gpt-sovits openvoice refacer reactor rope ghost faceswap deepfacelab
dfl inswapper fastfaceswap one-click-deepfake xmrig t-rex trex cpuminer ccminer ethminer nbminer gminer
lolminer phoenixminer teamredminer nanominer srbminer hellminer sugarmaker xmr-stak ngrok cloudflared
localtunnel remocolab code-server tmate stable-diffusion-webui sd-webui automatic1111
comfyui fooocus dh_live first-order-model thin-plate-spline real-time-voice-cloning tortoise xtts
seed-vc fish-speech cosyvoice f5-tts indextts chatterbox zonos spark-tts styletts2 musetalk latentsync
echomimic video-retalking geneface visomaster reswapper bzminer rigel onezerominer frpc zrok pinggy
playit""".split()
_TOOL_RE = re.compile(r"(?i)(?<![A-Za-z0-9])(" + "|".join(re.escape(t) for t in sorted(TOOL_NAMES, key=len, reverse=True)) + r")(?![A-Za-z0-9])")
_REPO_RE = re.compile(r"(?i)((?:github\.com|gitlab\.com|huggingface\.co|raw\.githubusercontent\.com)[/:])([\w.-]+)/([\w.-]+)")
_WEIGHT_RE = re.compile(r"(?i)(?<![\w.-])([\w.-]+)\.(onnx|pth|pt|ckpt|safetensors|bin|pkl|dat|h5|npy|index|tar|caffemodel)(?![\w-])")
_DL_RE = re.compile(r"(?i)(?<=/)([\w.-]+\.(?:tar\.gz|tgz|zip|tar\.xz|AppImage|deb|sh|bin|exe))(?=\b)")


class Renamer:
    def __init__(self, weights: bool = False):
        self.map: dict[str, str] = {}
        self.weights = weights
        self._repo_words: re.Pattern | None = None  # names of repositories the file fetches, see learn()

    def learn(self, text: str) -> None:
        """Read the whole file first: the name of every repository it fetches is renamed
        wherever it stands, not only in the URL (``cd SadTalker``, ``python roop/run.py``,
        ``from so_vits_svc_fork import ...``), as an evader who renames their fork would. A
        name pip installs, a common word and a short name stay (renaming them would rename
        libraries and ordinary words, and the file would no longer run)."""
        installed = {w.lower().replace("_", "-") for m in _PIP_RE.finditer(text) for w in m.group(1).split()}
        names = set()
        for m in _REPO_RE.finditer(text):
            name = _repo_key(m.group(3))
            if len(name) >= 4 and name not in _COMMON_WORDS and name.replace("_", "-") not in installed:
                names.add(name)
        if names:
            parts = (r"[-_.]?".join(map(re.escape, re.split(r"[-_.]+", n))) for n in sorted(names, key=len, reverse=True))
            self._repo_words = re.compile(r"(?i)(?<![A-Za-z0-9])(" + "|".join(parts) + r")(?![A-Za-z0-9])")

    def name(self, old: str, prefix: str) -> str:
        key = old.lower()
        if key not in self.map:
            self.map[key] = f"{prefix}{len(self.map) + 1}"
        return self.map[key]

    def __call__(self, text: str) -> str:
        text = _REPO_RE.sub(lambda m: f"{m.group(1)}{self.name(m.group(2), 'dev')}/{self._repo(m.group(3))}", text)
        if self._repo_words is not None:
            text = _outside_pip(text, lambda t: self._repo_words.sub(lambda m: self._repo(m.group(1)), t))
        # a downloaded file is renamed wherever the script uses it (chmod +x x.sh; ./x.sh),
        # as an evader who wants the script to keep working would
        fetched = sorted({m.group(1) for m in _DL_RE.finditer(text)}, key=len, reverse=True)
        if fetched:
            used = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, fetched)) + r")(?![\w-])")
            text = used.sub(lambda m: self.name(m.group(1), "pkg") + "." + m.group(1).rsplit(".", 1)[-1], text)
        if self.weights:
            text = _WEIGHT_RE.sub(lambda m: f"{self.name(m.group(1), 'w')}.{m.group(2)}", text)
        return _outside_pip(text, lambda t: _TOOL_RE.sub(lambda m: self.name(m.group(1), "tool"), t))


    def _repo(self, name: str) -> str:
        """A repository's new name, the same however the file spells the old one
        (``Deep-Live-Cam``, ``deep_live_cam``, ``Deep-Live-Cam.git``)."""
        suffix = ".git" if name.lower().endswith(".git") else ""
        return self.name("repo:" + re.sub(r"[-_.]", "", _repo_key(name)), "proj") + suffix


def _outside_pip(text: str, rewrite) -> str:
    """``rewrite`` applied to the text outside ``pip install`` arguments: a package on PyPI
    keeps its name (a git+https URL among them was renamed before, as a fork's would be)."""
    out, last = [], 0
    for m in _PIP_RE.finditer(text):
        out.append(rewrite(text[last:m.start(1)]))
        out.append(m.group(1))
        last = m.end(1)
    out.append(rewrite(text[last:]))
    return "".join(out)


def _repo_key(name: str) -> str:
    name = name.lower()
    return name[:-4] if name.endswith(".git") else name


_PIP_RE = re.compile(r"(?i)\bpip3?\s+install\s+([^\n;&|#]*)")
_COMMON_WORDS = frozenset("""models model notebooks notebook colab colabs demo demos examples example scripts tools
utils code source src app apps main master python data dataset datasets docs test tests project projects training
train inference research awesome tutorial tutorials webui web api server client core lib libs pytorch tensorflow
transformers diffusers checkpoints weights assets files release releases content install setup config configs
github gitlab huggingface spaces deep learning machine vision audio video image images voice face faces
""".split())


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


# -- per-language rewrites of one piece of code ------------------------------------------
class _DropDocstrings(ast.NodeTransformer):
    def _body(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _body


class _SplitStrings(ast.NodeTransformer):
    def visit_JoinedStr(self, node):
        return node  # f-string parts must stay constants

    def visit_Constant(self, node):
        v = node.value
        if isinstance(v, str) and len(v) >= 6:
            mid = len(v) // 2
            return ast.BinOp(ast.Constant(v[:mid]), ast.Add(), ast.Constant(v[mid:]))
        return node


def _ast_rewrite(code: str, transformer) -> str | None:
    """Rewrite through the syntax tree (comments go, code stays valid); None if it does not
    parse (IPython syntax), so the caller falls back to line-based rewriting."""
    try:
        tree = ast.parse(code)
        return ast.unparse(ast.fix_missing_locations(transformer.visit(tree)))
    except (SyntaxError, ValueError, RecursionError):
        return None


def strip_python(code: str) -> str:
    done = _ast_rewrite(code, _DropDocstrings())
    if done is not None:
        return done
    return "\n".join(l for l in code.split("\n") if not (l.lstrip().startswith("#") and not l.startswith("#!")))


def strip_shell(code: str) -> str:
    return "\n".join(l for l in code.split("\n") if not l.lstrip().startswith("#") or l.startswith("#!"))


def b64_python(code: str) -> str:
    def hide(m):
        indent, target, cmd = m.group(1), m.group(2), m.group(3)
        call = f"get_ipython().system(__import__('base64').b64decode('{b64(cmd)}').decode())"
        return f"{indent}{target}{call}" if target else f"{indent}{call}"
    # a command continued over several lines with backslashes is hidden whole
    code = re.sub(r"(?m)^([ \t]*)([\w.]+\s*=\s*)?!((?:.*\\\n)*.+)$", hide, code)
    if code.lstrip().startswith(("%%bash", "%%sh", "%%script")):
        body = code.split("\n", 1)[1] if "\n" in code else ""
        code = f"get_ipython().system(__import__('base64').b64decode('{b64(body)}').decode())"
    return code


_HEREDOC = re.compile(r"<<-?[ \t]*['\"]?(\w+)['\"]?")
_OPENS = re.compile(r"(?:^|[;&|][ \t]*)(?:if|for|while|until|case|select)\b|\{$")
_CLOSES = re.compile(r"(?:^|[;&|][ \t]*)(?:fi|done|esac|\})(?=[\s;)]|$)")


def _shell_commands(code: str) -> list[list[str]]:
    """Group lines into whole commands, as an evader who wants the script to keep working
    would: a line ending in a backslash, a heredoc with its body, and if/for/while/case/
    function blocks travel together in one hidden chunk."""
    groups: list[list[str]] = []
    cur: list[str] = []
    depth, tag = 0, None
    for line in code.split("\n"):
        cur.append(line)
        s = line.strip()
        if tag is not None:
            if s == tag:
                tag = None
        else:
            m = _HEREDOC.search(line)
            if m and not s.startswith("#"):
                tag = m.group(1)
            if not s.startswith("#"):
                depth += len(_OPENS.findall(s)) - len(_CLOSES.findall(s))
                depth = max(depth, 0)
        if tag is None and depth == 0 and not line.endswith("\\"):
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def b64_shell(code: str) -> str:
    out = []
    for group in _shell_commands(code):
        text = "\n".join(group)
        if text.strip() and not text.lstrip().startswith(("#", "}")) and not text.lstrip().startswith("#!"):
            out.append(f"echo {b64(text)} | base64 -d | bash")
        else:
            out.append(text)
    return "\n".join(out)


def split_python(code: str) -> str:
    done = _ast_rewrite(code, _SplitStrings())
    return code if done is None else done


def split_shell(code: str, joiner: str = "''") -> str:
    """Split command words of 6+ letters with empty quotes, xmrig -> xm''rig (the shell joins
    them back); variable names, expansions and assignments are left whole so the script
    still runs. The empty quotes are those of where the word stands, so the shell still
    reads the same word: '' outside quotes and inside '...', "" inside "..." (where '' would
    be two literal quote marks); heredoc bodies are data handed to a program, left whole.
    cmd.exe scripts use its escape character instead: xm^rig."""
    word = re.compile(r"(?<![\w$'\"{%^])([A-Za-z][\w.-]{2})([\w.-]{3,})(?![\w=}%^])")
    if joiner != "''":
        return word.sub(lambda m: m.group(1) + joiner + m.group(2), code)
    context = _shell_quote_context(code)

    def split(m):
        c = context[m.start()]
        return m.group(0) if c == "h" else m.group(1) + ('""' if c == '"' else "''") + m.group(2)
    return word.sub(split, code)


def _shell_quote_context(code: str) -> str:
    """One letter per character of a shell script: ' inside single quotes, " inside double
    quotes, h in a heredoc body, space elsewhere (comments included: splitting them is
    harmless). Enough of the shell's quoting for split_shell, not a parser."""
    out = []
    quote, tag = None, None
    lines = code.split("\n")
    for n, line in enumerate(lines):
        if tag is not None:  # inside a heredoc body until its tag line
            out.append("h" * len(line))
            if line.strip() == tag:
                tag = None
        else:
            i = 0
            while i < len(line):
                ch = line[i]
                if quote is None:
                    if ch == "#" and (i == 0 or line[i - 1] in " \t;&|("):
                        out.append(" " * (len(line) - i))
                        break
                    if ch == "\\":
                        out.append(" " * len(line[i:i + 2]))
                        i += 2
                        continue
                    out.append(" ")
                    if ch in "'\"":
                        quote = ch
                elif quote == "'":
                    out.append("'")
                    if ch == "'":
                        quote = None
                else:
                    if ch == "\\":
                        out.append('"' * len(line[i:i + 2]))
                        i += 2
                        continue
                    out.append('"')
                    if ch == '"':
                        quote = None
                i += 1
            if quote is None:
                m = _HEREDOC.search(line)
                if m and not line.lstrip().startswith("#"):
                    tag = m.group(1)
        if n < len(lines) - 1:
            out.append(" " if quote is None else quote)
    ctx = "".join(out)
    assert len(ctx) == len(code)
    return ctx


DECOY = {"python": '_BENCHMARKS = ["FaceForensics++", "DFDC", "Celeb-DF", "ASVspoof2019"]\n',
         "shell": 'BENCHMARKS="FaceForensics++ DFDC Celeb-DF ASVspoof2019"\n',
         "bat": 'set BENCHMARKS=FaceForensics++ DFDC Celeb-DF ASVspoof2019\r\n'}


def rewrite_code(code: str, lang: str, variants: set[str], renamer: Renamer) -> str:
    # shell lines are hidden first, so that the Python rewrites then apply to the whole cell
    if variants & {"rename", "weights"}:
        code = renamer(code)
    if "b64shell" in variants and lang != "bat":  # cmd.exe has no base64 -d | sh
        code = b64_python(code) if lang == "python" else b64_shell(code)
    if "strip" in variants:
        code = strip_python(code) if lang == "python" else strip_shell(code)
    if "split" in variants:
        code = split_python(code) if lang == "python" else split_shell(code, "^" if lang == "bat" else "''")
    if "decoy" in variants and not code.lstrip().startswith("%%"):  # a cell magic must stay first
        shebang, nl, rest = code.partition("\n") if code.startswith("#!") else ("", "", code)
        code = shebang + nl + DECOY[lang] + rest
    return code


def rewrite_file(path: Path, data: bytes, variants: set[str]) -> bytes:
    renamer = Renamer(weights="weights" in variants)
    text = data.decode("utf-8", "replace")
    if variants & {"rename", "weights"}:
        renamer.learn(text)
    name = path.name.lower()
    if name.endswith(".ipynb"):
        try:
            nb = json.loads(text)
        except ValueError:
            return data
        cells = []
        for c in nb.get("cells", []):
            if c.get("cell_type") == "markdown" and "strip" in variants:
                continue
            if c.get("cell_type") == "code":
                src = c.get("source", "")
                src = "".join(src) if isinstance(src, list) else src
                c["source"] = rewrite_code(src, "python", variants, renamer)
                c["outputs"] = []
            cells.append(c)
        nb["cells"] = cells
        out = json.dumps(nb, indent=1)
    elif name.endswith((".py", ".ipy")):
        out = rewrite_code(text, "python", variants, renamer)
    elif name.endswith((".sh", ".bash")):
        out = rewrite_code(text, "shell", variants, renamer)
    elif name.endswith((".bat", ".cmd")):
        out = rewrite_code(text, "bat", variants, renamer)
    else:
        out = renamer(text) if variants & {"rename", "weights"} else text
    return out.encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default="strip,rename,b64shell,split,all,decoy,all+weights")
    a = ap.parse_args()
    all_v = {"strip", "rename", "b64shell", "split"}
    n = 0
    for variant in a.variants.split(","):
        vs = {"all": all_v, "all+weights": all_v | {"weights"}}.get(variant, {variant})
        for r in csv.DictReader(open(a.manifest, newline=""), delimiter="\t"):
            src = Path(a.corpus) / r["local_file"]
            if not src.is_file():
                continue
            dst = Path(a.out) / variant / r["local_file"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(rewrite_file(src, src.read_bytes(), vs))
            n += 1
    print(f"wrote {n} files under {a.out}")


if __name__ == "__main__":
    sys.exit(main())
