"""Was a flagged process started by an installed package rather than by the user's code?

From outside a Python process its stack cannot be read, so the watcher looks for evidence
a reviewer can check, in this order:

1. **Path evidence.** The process's executable, working folder or a path on its command
   line, or the script or ``-m`` module of a Python parent between it and the kernel, lies
   inside a site-packages folder: the file belongs to the distribution whose RECORD lists it.
2. **Content evidence.** The distinctive parts of its command line (a wallet-like string, a
   pool URL, a hidden executable path) appear literally in the files of one installed
   distribution. A hijacked release must carry its miner's configuration somewhere, and the
   command line is where it ends up. Distributions are searched newest install first (a
   hijack is usually a recent upgrade) within a byte and time budget.

A distribution installed from a local folder, a URL or a VCS checkout (PEP 610
``direct_url.json``) is the user's own code, not a dependency: it is never blamed.
The site-packages folders come from the Python processes in the chain (their interpreter's
prefix, a virtual environment next to argv[0], PYTHONPATH, the user site, and the
extension modules mapped in /proc/PID/maps), read through /proc/PID/root so that a node
agent sees the container's files.
"""
from __future__ import annotations

import csv
import glob
import io
import os
import re
import time
from dataclasses import dataclass, field

from . import procfs
from .process import Proc

#: Where a package keeps code and configuration; compiled files and data are not searched.
_TEXT_SUFFIXES = {".py", ".pth", ".sh", ".json", ".cfg", ".toml", ".yaml", ".yml", ".ini", ""}
_RUN = re.compile(r"[A-Za-z0-9]{20,}")
_HOSTPORT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?([^/\s:@]+):(\d{2,5})")
_TEMP = ("/dev/shm/", "/tmp/", "/var/tmp/", "/run/shm/")


@dataclass(slots=True)
class Dist:
    name: str
    version: str
    site: str  # the site-packages folder, as the process sees it
    dist_info: str
    files: list[str] = field(default_factory=list)  # absolute paths, as the process sees them
    local_install: bool = False  # direct_url.json: installed from a folder, URL or VCS
    installed: float = 0.0  # mtime of the dist-info folder


@dataclass(slots=True)
class Dependency:
    name: str
    version: str
    how: str  # one sentence of evidence
    file: str | None = None

    @property
    def attribution(self) -> str:
        return f"dependency:{self.name}=={self.version}"

    def to_dict(self) -> dict:
        return {"package": self.name, "version": self.version, "evidence": self.how, "file": self.file}


def _read_metadata(path: str) -> tuple[str, str]:
    name = version = ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
    except OSError:
        pass
    return name, version


_CACHE: dict[tuple[str, str], tuple[tuple, list[Dist]]] = {}


def load_dists(site: str, root: str = "") -> tuple[tuple, list[Dist]]:
    """(signature, distributions) of one site-packages folder (``root`` prefixes file
    access, e.g. /proc/PID/root for a container). The signature, the dist-info folders'
    names and modification times, changes whenever a distribution is installed, upgraded,
    removed or edited: it keys this cache and the caches built on its answer. The folder is
    listed once per call; distributions are read again only when the signature changed."""
    try:
        sig = tuple(sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(root + site)
                           if e.name.endswith(".dist-info")))
    except OSError:
        return (), []
    hit = _CACHE.get((root, site))
    if hit and hit[0] == sig:
        return hit
    out = _load_dists(site, root, [name for name, _ in sig])
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[(root, site)] = (sig, out)
    return sig, out


def _load_dists(site: str, root: str, dist_infos: list[str]) -> list[Dist]:
    out = []
    for e in dist_infos:
        di = os.path.join(site, e)
        name, version = _read_metadata(root + di + "/METADATA")
        if not name:
            name, _, version = e[:-10].partition("-")
        d = Dist(name, version, site, di, local_install=os.path.exists(root + di + "/direct_url.json"))
        try:
            d.installed = os.stat(root + di).st_mtime
            with open(root + di + "/RECORD", encoding="utf-8", errors="replace") as fh:
                for row in csv.reader(io.StringIO(fh.read())):
                    if row and row[0]:
                        d.files.append(os.path.normpath(os.path.join(site, row[0])))
        except OSError:
            pass
        if not d.files:  # no RECORD: fall back to the top-level names
            tops = []
            try:
                with open(root + di + "/top_level.txt", encoding="utf-8") as fh:
                    tops = [t.strip() for t in fh if t.strip()]
            except OSError:
                tops = [name.replace("-", "_")]
            for t in tops:
                d.files.extend(_walk(site, t, root))
        out.append(d)
    return out


def _walk(site: str, top: str, root: str) -> list[str]:
    base = os.path.join(site, top)
    if os.path.isfile(root + base + ".py"):
        return [base + ".py"]
    files = []
    for dirpath, _, names in os.walk(root + base):
        files.extend(os.path.join(dirpath[len(root):], n) for n in names)
    return files


def site_dirs(chain: list[Proc], root: str = "") -> list[str]:
    """site-packages folders of the Python environments the chain's processes run in."""
    dirs: list[str] = []

    def add(pattern: str) -> None:
        for d in sorted(glob.glob(root + pattern)):
            d = d[len(root):]
            if d not in dirs and os.path.isdir(root + d):
                dirs.append(d)

    for p in chain:
        env = p.env
        for entry in (env.get("PYTHONPATH") or "").split(":"):
            if entry:
                add(entry)
        for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
            if env.get(var):
                add(env[var] + "/lib/python3*/site-packages")
        base = env.get("PYTHONUSERBASE") or (env.get("HOME", "") + "/.local" if env.get("HOME") else "")
        if base:
            add(base + "/lib/python3*/site-packages")
        argv0 = (p.argv or [""])[0]
        if argv0.startswith("/"):
            prefix = os.path.dirname(os.path.dirname(argv0))
            add(prefix + "/lib/python3*/site-packages")
        exe = (p.exe or "").removesuffix(" (deleted)")
        if exe.startswith("/") and os.path.basename(exe).startswith("python"):
            prefix = os.path.dirname(os.path.dirname(exe))
            add(prefix + "/lib/python3*/site-packages")
            add(prefix + "/lib/python3*/dist-packages")
            add(prefix + "/lib/python3/dist-packages")
        maps = procfs.read_text(p.pid, "maps", limit=4 << 20) or ""
        for m in re.finditer(r"(/\S*?/(?:site|dist)-packages)/", maps):
            add(m.group(1))
    return dirs


def distinctive_tokens(p: Proc) -> list[tuple[str, int]]:
    """(token, weight) from the command line: 2 for a wallet- or key-like run of 20+
    letters and digits, 1 for a remote host:port or URL, 1 for a hidden temp-folder path.
    Generic words, flags and loopback addresses never count on their own."""
    out: dict[str, int] = {}
    argv = p.argv or []
    exe = (p.exe or "").removesuffix(" (deleted)")
    for i, a in enumerate(argv):
        parts = [a] + ([a.split("=", 1)[1]] if a.startswith("-") and "=" in a else [])
        for part in parts:
            if part.startswith("-") or len(part) < 8 or len(part) > 2000:
                continue
            for run in _RUN.findall(part):
                out[run] = 2
            m = _HOSTPORT.match(part)
            if m and len(part) >= 12 and not m.group(1).startswith(("127.", "localhost", "0.0.0.0")):
                out.setdefault(part, 1)
            if part.startswith(_TEMP) and i == 0 or (part.startswith(_TEMP) and part == exe):
                out.setdefault(part, 1)
    if exe.startswith(_TEMP):
        out.setdefault(exe, 1)
    return sorted(out.items(), key=lambda kv: -kv[1])


def _owner(path: str, dists: list[Dist]) -> Dist | None:
    for d in dists:
        if path in d.files:
            return d
    return None


def _module_file(site: str, module: str, root: str) -> str | None:
    rel = module.replace(".", "/")
    for cand in (rel + ".py", rel + "/__init__.py", rel + "/__main__.py"):
        if os.path.isfile(root + os.path.join(site, cand)):
            return os.path.join(site, cand)
    return None


def find(chain: list[Proc], *, root: str = "", byte_budget: int = 256 << 20,
         time_budget: float = 3.0) -> tuple[Dependency | None, str]:
    """(the dependency that started chain[0], or None; a note on what was checked)."""
    from .attribution import _python_module

    sites = site_dirs(chain, root)
    if not sites:
        return None, "no Python environment found among the parents"
    loaded = [load_dists(s, root) for s in sites]
    dists = [d for _, ds in loaded for d in ds]
    offender = chain[0]

    def verdict(d: Dist, how: str, file: str | None) -> tuple[Dependency | None, str]:
        if d.local_install:
            return None, (f"{d.name} {d.version} {how}, but it was installed from a local folder or URL "
                          "(direct_url.json): treated as the user's own code")
        return Dependency(d.name, d.version, how, file), "dependency"

    # 1. path evidence: the process, or a Python parent below the kernel, runs a package's file
    below_kernel = [c for c in chain if c.role not in ("kernel", "server", "terminal", "platform")]
    for c in below_kernel:
        paths = [(c.exe or "").removesuffix(" (deleted)"), c.cwd or ""]
        argv = c.argv or []
        paths += [a if a.startswith("/") else os.path.join(c.cwd or "/", a) for a in argv[1:4]
                  if not a.startswith("-") and ("/" in a or a.endswith(".py"))]
        module = _python_module(argv) if argv else None
        for s in sites:
            if module:
                f = _module_file(s, module, root)
                if f:
                    paths.append(f)
        for path in paths:
            if not path:
                continue
            path = os.path.normpath(path)
            d = _owner(path, dists)
            if d is None:
                for s in sites:
                    if path.startswith(s + "/"):
                        top = path[len(s) + 1:].split("/")[0]
                        d = next((x for x in dists if any(f.startswith(os.path.join(s, top)) for f in x.files)),
                                 None)
                        if d:
                            break
            if d is not None:
                who = "it" if c is offender else f"its parent pid {c.pid}"
                return verdict(d, f"{who} runs {path}, a file of the installed package", path)

    # 2. content evidence: the command line's distinctive parts are written in a package
    tokens = distinctive_tokens(offender)
    if sum(w for _, w in tokens) < 2:
        return None, "no distinctive command-line value to look for in installed packages"
    # the same miner restarted (same wallet, same installed distributions) is not searched for again
    key = (root, tuple(sites), tuple(tokens))
    state = tuple(sig for sig, _ in loaded)
    hit = _SEARCHED.get(key)
    if hit and hit[0] == state:
        return hit[1]
    result = _search(dists, tokens, verdict, root, byte_budget, time_budget)
    if len(_SEARCHED) > 256:
        _SEARCHED.clear()
    _SEARCHED[key] = (state, result)
    return result


_SEARCHED: dict[tuple, tuple] = {}


def _search(dists: list[Dist], tokens: list[tuple[str, int]], verdict, root: str, byte_budget: int,
            time_budget: float) -> tuple[Dependency | None, str]:
    """Newest installs first; a distribution must score 2 (see ``distinctive_tokens``)."""
    needles = [(t.encode(), w) for t, w in tokens]
    spent, t0 = 0, time.monotonic()
    for d in sorted(dists, key=lambda x: -x.installed):
        score, found, where = 0, [], None
        for f in d.files:
            if os.path.splitext(f)[1] not in _TEXT_SUFFIXES or "/__pycache__/" in f or ".dist-info/" in f:
                continue
            try:
                size = os.path.getsize(root + f)
                if size > (1 << 20):
                    continue
                with open(root + f, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            spent += size
            for n, w in needles:
                if n in data and n.decode() not in found:
                    found.append(n.decode())
                    score += w
                    where = where or f
            if spent > byte_budget or time.monotonic() - t0 > time_budget:
                return None, f"search budget spent after {spent >> 20} MiB without a match"
        if score >= 2:
            shown = ", ".join(repr(x[:60]) for x in found[:3])
            return verdict(d, f"its command line carries {shown}, written in {where}", where)
    return None, f"searched {len(dists)} installed distributions: no match"
