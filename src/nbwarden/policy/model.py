"""Policy file model and the decisions made from it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..engine.model import Finding, Report, categories_of
from ..engine.ruleset import CATEGORIES

ACTIONS = ("allow", "log", "warn", "block", "terminate")  # mildest first
STANDINGS = ("good", "warned", "restricted", "suspended")
DEFAULT_POLICY = Path(__file__).with_name("default.yaml")
_TOP_KEYS = {"version", "name", "url", "threshold", "honour_waivers", "tiers", "default_tier", "actions",
             "ladder", "allowlist"}


class PolicyError(ValueError):
    """A policy file that does not load; the message says where and how to fix it."""


@dataclass(frozen=True)
class LadderStep:
    strikes: int
    standing: str
    consequence: str


@dataclass
class Standing:
    standing: str  # good | warned | restricted | suspended
    strikes: int  # strikes inside the window
    consequence: str
    next_consequence: str  # what one more strike would bring

    def to_dict(self) -> dict[str, Any]:
        return {"standing": self.standing, "strikes": self.strikes, "consequence": self.consequence,
                "next_consequence": self.next_consequence}


@dataclass
class Decision:
    action: str
    tier: str
    category: str | None  # the category that decided the action
    confidence: float
    findings: list[Finding] = field(default_factory=list)  # those acted on (not waived, not allowlisted)
    waived: list[Finding] = field(default_factory=list)
    allowlisted: list[Finding] = field(default_factory=list)
    policy_url: str = ""
    policy_version: int = 1

    @property
    def message(self) -> str:
        """The sentence a notebook user reads."""
        if self.action in ("allow", "log") or not self.findings:
            return "Nothing in this code goes against the usage policy."
        top = self.findings[0]
        verb = {"warn": "is not allowed on this service; you may cancel or run it anyway (the decision is recorded)",
                "block": "is not allowed on this service, so it was not run; you can appeal if this is wrong",
                "terminate": "is not allowed on this service; the kernel is being stopped; you can appeal if this is wrong"}
        return f"This looks like {CATEGORY_NAMES.get(self.category or '', self.category)}: {top.explanation} " \
               f"It {verb[self.action]}. Policy: {self.policy_url}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "tier": self.tier, "category": self.category,
                "category_name": CATEGORY_NAMES.get(self.category or "", self.category),
                "confidence": round(self.confidence, 3), "message": self.message,
                "findings": [f.to_dict() for f in self.findings], "waived": [f.to_dict() for f in self.waived],
                "allowlisted": [f.content_hash for f in self.allowlisted], "policy_url": self.policy_url,
                "policy_version": self.policy_version}


CATEGORY_NAMES = {
    "deepfake.faceswap": "deepfake face-swap", "deepfake.reenactment": "face reenactment or lip-sync deepfake",
    "deepfake.voice": "voice cloning", "mining": "cryptocurrency mining", "remote.tunnel": "a tunnel exposing the notebook machine",
    "remote.desktop": "a remote desktop", "remote.shell": "a remote shell (SSH) into the notebook machine",
    "remote.webui": "a web UI served around the notebook", "torrent": "torrent or peer-to-peer file sharing",
    "proxy": "a proxy or VPN relay", "attack.dos": "a denial-of-service attack", "attack.scan": "network scanning",
    "cracking": "password or hash cracking", "filehosting": "file hosting or media serving",
}


class Policy:
    def __init__(self, doc: dict[str, Any], source: str = "<policy>"):
        self.doc = doc
        self.source = source
        self.version = int(doc.get("version", 1))
        self.name = str(doc.get("name", "policy"))
        self.url = str(doc.get("url", ""))
        self.threshold = float(doc.get("threshold", 0.5))
        self.tiers: list[str] = list(doc["tiers"])
        self.default_tier = str(doc.get("default_tier", self.tiers[0]))
        self.honour_waivers = set(doc.get("honour_waivers") or [])
        self.actions: dict[str, dict[str, str]] = doc["actions"]
        ladder = doc.get("ladder") or {}
        self.window = timedelta(days=float(ladder.get("window_days", 30)))
        self.ladder = [LadderStep(int(s["strikes"]), str(s["standing"]), str(s.get("consequence", "")))
                       for s in ladder.get("steps") or []]
        self.allowlist = set(doc.get("allowlist") or [])

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Policy":
        src = Path(path) if path else DEFAULT_POLICY
        try:
            doc = yaml.load(src.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except OSError as e:
            raise PolicyError(f"{src}: cannot read policy: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise PolicyError(f"{src}: invalid YAML: {e}") from None
        validate(doc, str(src))
        return cls(doc, str(src))

    def with_allowlist(self, hashes: Iterable[str]) -> "Policy":
        doc = copy.deepcopy(self.doc)
        doc["allowlist"] = sorted(set(doc.get("allowlist") or []) | set(hashes))
        return Policy(doc, self.source)

    # -- deciding ---------------------------------------------------------------------------
    def action(self, category: str, tier: str | None = None) -> str:
        tier = tier or self.default_tier
        return self.actions.get(category, {}).get(tier, "warn")

    def decide(self, report: Report | list[Finding], tier: str | None = None) -> Decision:
        tier = tier if tier in self.tiers else self.default_tier
        findings = report.findings if isinstance(report, Report) else report
        acted, waived, allowed = [], [], []
        for f in findings:
            if f.content_hash in self.allowlist:
                allowed.append(f)
            elif f.waived and tier in self.honour_waivers:
                waived.append(f)
            else:
                acted.append(f)
        best = ("allow", None, 0.0)
        for c in categories_of([_unwaived(f) for f in acted]):
            if c.confidence < self.threshold:
                continue
            act = self.action(c.id, tier)
            if ACTIONS.index(act) > ACTIONS.index(best[0]) or (act == best[0] and c.confidence > best[2]):
                best = (act, c.id, c.confidence)
        action, category, conf = best
        acted.sort(key=lambda f: (f.category != category, -f.confidence))
        return Decision(action, tier, category, conf, acted, waived, allowed, self.url, self.version)

    def standing(self, strike_times: Iterable[datetime], now: datetime | None = None) -> Standing:
        """Standing from the times of the user's strikes, by the ladder."""
        now = now or datetime.now(timezone.utc)
        n = sum(1 for t in strike_times if now - t <= self.window)
        current = LadderStep(0, "good", "No violations in the last "
                             f"{self.window.days} days.")
        nxt = self.ladder[0].consequence if self.ladder else ""
        for i, step in enumerate(self.ladder):
            if n >= step.strikes:
                current = step
                nxt = self.ladder[i + 1].consequence if i + 1 < len(self.ladder) else step.consequence
        return Standing(current.standing, n, current.consequence, nxt)

    def table(self) -> list[list[str]]:
        rows = [["category", *self.tiers]]
        for cat in CATEGORIES:
            rows.append([cat, *(self.action(cat, t) for t in self.tiers)])
        return rows


def _unwaived(f: Finding) -> Finding:
    if f.waived is None:
        return f
    return Finding(f.rule_id, f.category, f.confidence, f.severity, f.title, f.explanation, f.evidence, None)


def validate(doc: Any, where: str) -> None:
    if not isinstance(doc, dict):
        raise PolicyError(f"{where}: a policy is a mapping (see the shipped default.yaml)")
    extra = set(doc) - _TOP_KEYS
    if extra:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("tiers", "actions"):
        if key not in doc:
            raise PolicyError(f"{where}: missing {key}")
    tiers = doc["tiers"]
    if not isinstance(tiers, list) or not tiers or not all(isinstance(t, str) for t in tiers):
        raise PolicyError(f"{where}: tiers must be a list of names, e.g. [free, pro]")
    if doc.get("default_tier", tiers[0]) not in tiers:
        raise PolicyError(f"{where}: default_tier must be one of the tiers")
    acts = doc["actions"]
    if not isinstance(acts, dict):
        raise PolicyError(f"{where}: actions maps category -> {{tier: action}}")
    for cat, row in acts.items():
        if cat not in CATEGORIES:
            raise PolicyError(f"{where}: actions: unknown category {cat!r}; categories: {', '.join(CATEGORIES)}")
        if not isinstance(row, dict):
            raise PolicyError(f"{where}: actions.{cat}: map each tier to an action")
        for tier, act in row.items():
            if tier not in tiers:
                raise PolicyError(f"{where}: actions.{cat}: tier {tier!r} is not in tiers {tiers}")
            if act not in ACTIONS:
                raise PolicyError(f"{where}: actions.{cat}.{tier}: {act!r} is not one of {', '.join(ACTIONS)}")
    thr = doc.get("threshold", 0.5)
    if not isinstance(thr, (int, float)) or not 0 < thr <= 1:
        raise PolicyError(f"{where}: threshold must be a number in (0, 1]")
    ladder = doc.get("ladder") or {}
    if not isinstance(ladder, dict):
        raise PolicyError(f"{where}: ladder is a mapping with window_days and steps")
    last = 0
    for i, s in enumerate(ladder.get("steps") or []):
        if not isinstance(s, dict) or s.get("standing") not in STANDINGS[1:] or not isinstance(s.get("strikes"), int):
            raise PolicyError(f"{where}: ladder.steps[{i}]: needs strikes (a number) and standing "
                              f"({', '.join(STANDINGS[1:])})")
        if s["strikes"] <= last:
            raise PolicyError(f"{where}: ladder.steps[{i}]: strikes must increase step by step")
        last = s["strikes"]
