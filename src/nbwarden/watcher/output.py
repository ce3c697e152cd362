"""How verdicts are printed: a readable block per process, or one JSON object per line."""
from __future__ import annotations

import orjson

_C = {"red": "\033[31m", "yellow": "\033[33m", "dim": "\033[2m", "bold": "\033[1m", "reset": "\033[0m"}


class Human:
    def __init__(self, stream, color: bool = False):
        self.stream, self.color = stream, color

    def c(self, name: str, text: str) -> str:
        return f"{_C[name]}{text}{_C['reset']}" if self.color else text

    def write(self, v) -> None:
        p, o, d = v.proc, v.proc.owner, v.decision
        who = ", ".join(x for x in (f"user {o.user}" if o and o.user else "",
                                    f"server {o.server!r}" if o and o.server else "",
                                    f"pod {o.pod}" if o and o.pod else "") if x)
        out = self.stream.write
        mode = "" if v.enforced else " [report only]"
        out(f"{self.c('red', 'FLAG')}   pid {p.pid} {self.c('bold', p.comm)}"
            f"{' (' + who + ')' if who else ''} -> {d.action}{mode}\n")
        out(f"       {d.category} ({d.confidence:.2f}); outcome: {v.result.outcome}\n")
        out(f"       command: {p.command[:200].replace(chr(10), ' ')}\n       exe: {p.exe or '?'}\n")
        for f in d.findings:
            out(f"  {self.c('bold', f.rule_id)} {f.title} [{f.category}, {f.confidence:.2f}]\n")
            out(f"       {f.explanation}\n")
            for e in f.evidence[:6]:
                shown = e.snippet.strip().replace("\n", " ")
                extra = f" {self.c('dim', '(' + shown[:120] + ')')}" if shown and shown[:40] not in e.fact else ""
                out(f"       - {e.fact[:140]}{extra}\n")
        if v.dependency:
            out(f"  {self.c('yellow', 'dependency compromise')}: {v.dependency.name}=={v.dependency.version} "
                f"({v.dependency.how}); no strike for the user\n")
        sb = v.started_by
        out(f"  started by: {sb['kind']} pid {sb['pid']} ({sb['command'][:100]})\n")
        for line in v.result.did:
            out(f"  did: {line}\n")
        out("\n")
        self.stream.flush()


class JsonLines:
    def __init__(self, stream, **_):
        self.stream = stream

    def write(self, v) -> None:
        self.stream.write(orjson.dumps(v.to_dict(), default=str).decode() + "\n")
        self.stream.flush()


def writer(fmt: str, stream, color: bool = False):
    return JsonLines(stream) if fmt == "jsonl" else Human(stream, color)
