"""The engine's vocabulary: what it reads (units), what it sees (facts) and what it says (findings).

Everything here is a plain dataclass so that the other layers (Jupyter server, kernel
extension, watcher, policy service) can serialise a report with `to_dict()` and never
import the engine's internals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Languages a unit of code can be in.
PYTHON, SHELL, TEXT = "python", "shell", "text"


@dataclass(slots=True)
class Unit:
    """One piece of code to analyse: a notebook cell, a script, a command line, or code
    the engine decoded from another unit (``hidden`` then says how deep it was buried)."""

    code: str
    lang: str = PYTHON
    cell: int | None = None  # index of the notebook cell, None for plain files
    line: int = 1  # line of ``code``'s first line inside its cell or file
    hidden: int = 0  # deobfuscation depth: 0 = written in plain sight
    how: str = ""  # how it was decoded, e.g. "base64 -> exec"
    origin: str = ""  # for decoded code: the line in plain sight that hides it


@dataclass(slots=True)
class Fact:
    """One observation about code: an import, a call, a string, a command, a package...

    ``kind`` is one of FACT_KINDS; ``value`` is what rules match against."""

    kind: str
    value: str
    unit: Unit
    line: int  # absolute line inside the cell or file

    @property
    def snippet(self) -> str:
        """The source line the fact comes from (for a decoded unit, its first line); made
        only when a finding shows it, not for every fact."""
        u = self.unit
        if u.hidden:
            text = u.origin or _first_line(u.code)
        else:
            idx = self.line - u.line
            text = ""
            if idx >= 0:
                lines = u.code.split("\n", idx + 1)  # one C call, not a find per line
                if idx < len(lines):
                    text = lines[idx]
        return _clip(text)

    def evidence(self, file: str | None = None) -> "Evidence":
        hidden = bool(self.unit.hidden)
        return Evidence(file=file and utf8_text(file), cell=self.unit.cell, line=self.line,
                        snippet=utf8_text(self.snippet), fact=utf8_text(f"{self.kind}: {self.value[:160]}"),
                        deobfuscated=hidden, how=self.unit.how,
                        decoded=utf8_text(_first_line(self.unit.code)) if hidden else None)


#: The kinds of fact extractors produce; rules match on these names (the schema checks it).
FACT_KINDS = (
    "import",   # a module imported by Python code: "insightface.app"
    "call",     # a called function, import aliases resolved: "pyngrok.ngrok.connect", ".launch"
    "attr",     # an attribute read on a call's result, directly or through the name it was
                # assigned to: "ngrok.connect().public_url" (t = ngrok.connect(); t.public_url)
    "kwarg",    # a keyword argument with a constant value: "launch:share=True"
    "string",   # a string the code uses (not printed, not a docstring), decoded if hidden
    "define",   # a function or class the code defines: "swap_face"
    "program",  # the program a shell command runs, path stripped: "xmrig"
    "command",  # a whole simple shell command, normalised: "xmrig -o stratum+tcp://... -u ..."
    "package",  # a package installed by pip/conda/apt/npm or listed in requirements
    "url",      # a URL the code or a command names
    "host",     # the host part of such a URL
    "repo",     # a git repository cloned or downloaded: "github.com/s0md3v/roop"
    "path",     # a file the code names (model weights, binaries): "inswapper_128.onnx"
    "behaviour",  # a pattern of use the extractors recognise: "pipe-to-shell", "exec-decoded"
    "location",  # where the scanned file lives: "FaceForensics/dataset/DeepFakes/setup.py"
)


@dataclass(slots=True)
class Evidence:
    file: str | None
    cell: int | None
    line: int
    snippet: str
    fact: str
    deobfuscated: bool = False
    how: str = ""
    decoded: str | None = None  # what the hidden code says, for decoded evidence

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "cell": self.cell, "line": self.line, "snippet": self.snippet,
                "fact": self.fact, "deobfuscated": self.deobfuscated, "how": self.how or None,
                "decoded": self.decoded}


def utf8_text(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (a ``"\\ud800"`` literal in scanned
    code, an undecodable byte in a file name) would make every writer of JSON, SARIF or a
    terminal line fail on the whole batch; it is shown as its escape (``\\ud800``) instead."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _first_line(code: str) -> str:
    return _clip(code.strip().split("\n", 1)[0])


def _clip(text: str) -> str:
    """A line as evidence shows it: stripped, at most 200 characters."""
    text = text.strip()
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(slots=True)
class Finding:
    rule_id: str
    category: str
    confidence: float
    severity: str
    title: str
    explanation: str  # one line a notebook user understands
    evidence: list[Evidence] = field(default_factory=list)
    waived: str | None = None  # the reason given by an inline waiver, if one applies

    @property
    def hidden(self) -> bool:
        return any(e.deobfuscated for e in self.evidence)

    @property
    def content_hash(self) -> str:
        """Identifies the finding by rule and what it saw, not where: stable when unrelated
        cells are added, removed or moved."""
        import hashlib  # here, not at the top: OpenSSL's start-up is paid only when a finding is hashed

        h = hashlib.sha256(self.rule_id.encode())
        for fact in sorted({e.fact for e in self.evidence}):
            h.update(b"\0" + fact.encode("utf-8", "replace"))
        return h.hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "category": self.category, "confidence": round(self.confidence, 3),
                "severity": self.severity, "title": self.title, "explanation": self.explanation,
                "hidden": self.hidden, "content_hash": self.content_hash, "waived": self.waived,
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(slots=True)
class CategoryScore:
    id: str
    confidence: float
    rules: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "confidence": round(self.confidence, 3), "rules": self.rules}


def categories_of(findings: list[Finding]) -> list[CategoryScore]:
    """Per category, the strongest finding's confidence; waived findings do not count."""
    by: dict[str, CategoryScore] = {}
    for f in findings:
        if f.waived:
            continue
        c = by.setdefault(f.category, CategoryScore(f.category, 0.0, []))
        c.confidence = max(c.confidence, f.confidence)
        if f.rule_id not in c.rules:
            c.rules.append(f.rule_id)
    return sorted(by.values(), key=lambda c: -c.confidence)


@dataclass(slots=True)
class Report:
    """What the engine says about one file, one cell, or one command line."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    verdict: str = "allow"  # "flag" or "allow", set by the policy's threshold
    units: int = 0
    action: str | None = None  # the policy's action, when a policy was applied

    def __post_init__(self):
        self.path = utf8_text(self.path)  # a file name with undecodable bytes arrives surrogate-escaped

    @property
    def categories(self) -> list[CategoryScore]:
        return categories_of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "verdict": self.verdict,
                "categories": [c.to_dict() for c in self.categories],
                "action": self.action, "findings": [f.to_dict() for f in self.findings], "error": self.error}
