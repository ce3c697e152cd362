"""SARIF 2.1.0 for code-scanning dashboards. Findings are fingerprinted by content hash,
so a dashboard keeps a finding's identity when unrelated cells move."""
from __future__ import annotations

import json

from .. import __version__

_LEVEL = {"low": "note", "medium": "warning", "high": "error", "critical": "error"}


class Writer:
    def __init__(self, stream, *, rules=None, **_):
        self.stream = stream
        self.rules = rules
        self.results, self.notes, self.used = [], [], {}

    def write(self, r) -> None:
        if r.error:
            self.notes.append({"level": "error", "message": {"text": f"{r.path}: {r.error}"},
                               "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(r.path)}}}]})
            return
        for f in r.findings:
            self.used.setdefault(f.rule_id, f)
            locs = []
            for e in f.evidence[:10]:
                region = {"startLine": max(1, e.line)}
                if e.snippet:
                    region["snippet"] = {"text": e.snippet}
                loc = {"physicalLocation": {"artifactLocation": {"uri": _uri(r.path)}, "region": region}}
                if e.cell is not None:
                    loc["message"] = {"text": f"notebook cell {e.cell}, line {e.line}"}
                locs.append(loc)
            self.results.append({
                "ruleId": f.rule_id, "level": "none" if f.waived else _LEVEL.get(f.severity, "warning"),
                "message": {"text": f.explanation}, "locations": locs,
                "partialFingerprints": {"nbwardenContentHash/v1": f.content_hash},
                "properties": {"category": f.category, "confidence": round(f.confidence, 3),
                               "deobfuscated": f.hidden, "waived": f.waived,
                               "cells": sorted({e.cell for e in f.evidence if e.cell is not None})},
            })

    def close(self) -> None:
        rules = []
        for rid, f in sorted(self.used.items()):
            rule = self.rules.get(rid) if self.rules else None
            d = {"id": rid, "name": rid, "shortDescription": {"text": f.title},
                 "fullDescription": {"text": rule.description if rule else f.explanation},
                 "help": {"text": f.explanation},
                 "properties": {"category": f.category, "severity": f.severity}}
            if rule:
                d["properties"].update({"maturity": rule.maturity, "confidence": rule.confidence,
                                        "knownEvasions": rule.evasions, "falsePositives": rule.false_positives})
            rules.append(d)
        doc = {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
               "runs": [{"tool": {"driver": {"name": "nbwarden", "version": __version__,
                                             "informationUri": "https://github.com/nbwarden/nbwarden", "rules": rules}},
                         "results": self.results,
                         "invocations": [{"executionSuccessful": True,
                                          "toolExecutionNotifications": self.notes}]}]}
        json.dump(doc, self.stream, indent=1)
        self.stream.write("\n")


def _uri(path: str) -> str:
    return path.replace("\\", "/").replace(" ", "%20")
