"""The decision core of the server extension, free of tornado and ZMQ: given a cell and who
runs it where, say whether it runs, why, and record what was decided.

The websocket connection (``connection.py``) and the REST handlers (``handlers.py``) are
thin shells around one ``Guard`` per server. Keeping the core here means it is tested and
benchmarked without a server, and every entry point decides the same way.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..engine import CellContext, Engine
from ..engine.model import Report
from ..events import Event
from ..policy import Decision, Policy
from ..policy.model import CATEGORY_NAMES
from ..reporting import Reporter
from . import scripts
from .tokens import OverrideTokens, code_hash

log = logging.getLogger("nbwarden.jupyter")

#: Outcome of a cell that ran without anything to record.
ALLOWED = "allowed"
#: Seconds a user's strikes read from the store are reused (other processes add strikes too).
STRIKES_TTL = 30.0


@dataclass
class KernelMemory:
    """One kernel's notebook context, with a lock: two browser tabs can share a kernel, and
    large cells are checked in a worker thread."""

    context: CellContext
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class CellVerdict:
    """What happens to one execute_request."""

    run: bool
    outcome: str  # allowed | logged | warned | ran-anyway | blocked | terminated | engine-error
    action: str  # the policy action (allow/log/warn/block/terminate)
    message: str = ""  # the sentence the user reads when the cell is refused
    consequence: str = ""  # what the ladder says this brings
    decision: Decision | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # recorded with the event
    event_id: str | None = None  # fixed for ran-anyway, so a repeated report counts once
    events: list[Event] = field(default_factory=list)  # to record once the user has the answer

    @property
    def terminate(self) -> bool:
        return self.outcome == "terminated"


class Guard:
    def __init__(self, *, engine: Engine, policy: Policy, reporter: Reporter, tokens: OverrideTokens,
                 tier: str = "", tier_for=None, server: str = "", on_engine_error: str = "open",
                 max_cell_bytes: int = 64 << 20, inline_check_bytes: int = 65536, kernel_contexts: int = 256,
                 refuse_through_kernel: bool = True):
        self.engine = engine
        self.policy = policy
        self.reporter = reporter
        self.tokens = tokens
        self._tier = tier
        self._tier_for = tier_for
        self.server = server or os.environ.get("JUPYTERHUB_SERVER_NAME") or socket.gethostname()
        self.fail_open = on_engine_error == "open"
        self.max_cell_bytes = max_cell_bytes
        self.inline_check_bytes = inline_check_bytes
        self.refuse_through_kernel = refuse_through_kernel
        self._max_kernels = kernel_contexts
        self._kernels: OrderedDict[str, KernelMemory] = OrderedDict()
        self._kernels_lock = threading.Lock()
        # user -> (read at, strike times, ids of events already added to them since that read)
        self._strikes: dict[str, tuple[float, list[datetime], set[str]]] = {}

    # -- who and where ------------------------------------------------------------------------
    def tier_of(self, user: str | None) -> str:
        tier = ""
        if self._tier_for is not None:
            try:
                tier = str(self._tier_for(user=user, server=self.server, policy=self.policy) or "")
            except Exception:  # an operator's callable must not take the server down
                log.exception("nbwarden: tier_for raised; using the policy's default tier")
        tier = tier or self._tier
        return tier if tier in self.policy.tiers else self.policy.default_tier

    def memory(self, kernel_id: str) -> KernelMemory:
        with self._kernels_lock:
            mem = self._kernels.get(kernel_id)
            if mem is None:
                mem = self._kernels[kernel_id] = KernelMemory(self.engine.new_context())
                while len(self._kernels) > self._max_kernels:
                    self._kernels.popitem(last=False)
            self._kernels.move_to_end(kernel_id)
            return mem

    def kernel_busy(self, kernel_id: str) -> bool:
        mem = self._kernels.get(kernel_id)
        return mem is not None and mem.lock.locked()

    def forget(self, kernel_id: str) -> None:
        with self._kernels_lock:
            self._kernels.pop(kernel_id, None)

    # -- the websocket path -----------------------------------------------------------------------
    def check_execute(self, *, kernel_id: str, code: str, user: str | None, override: Any = None,
                      path: str | None = None, cwd: str | None = None) -> CellVerdict:
        """Decide one execute_request, remember the cell in the kernel's context only when it
        runs, and record the decision. ``path``: the kernel's notebook, when known (read as
        the ``location`` a scan of it would have). Never raises."""
        tier = self.tier_of(user)
        mem = self.memory(kernel_id)
        with mem.lock:
            if path:
                mem.context.location = path
            mark = mem.context.checkpoint()
            report, err = self._check(code, mem.context, remember=True, cwd=cwd)
            if err is not None:
                mem.context.rollback(mark)
                return self._engine_error(err, kernel_id=kernel_id, user=user, tier=tier, digest=code_hash(code),
                                          path=path)
            decision = self.policy.decide(report, tier)
            # the cell's hash serves tokens and events only: an allowed cell (most) needs neither
            digest = code_hash(code) if decision.action != "allow" else None
            verdict = self._verdict(decision, kernel_id=kernel_id, digest=digest, user=user,
                                    override=override)
            if not verdict.run:
                mem.context.rollback(mark)
        if verdict.outcome != ALLOWED:
            verdict.events.append(self.event(verdict.outcome, decision, user=user, kernel_id=kernel_id,
                                             digest=digest, tier=tier, path=path, detail=verdict.detail,
                                             event_id=verdict.event_id))
        if verdict.terminate:
            self.forget(kernel_id)
        return verdict

    def _verdict(self, decision: Decision, *, kernel_id, digest, user, override) -> CellVerdict:
        act = decision.action
        if act == "allow":
            return CellVerdict(True, ALLOWED, act, decision=decision)
        if act == "log":
            return CellVerdict(True, "logged", act, decision=decision)
        consequence = self.consequence(user, act)
        if act == "warn" and override is not None:
            nonce, why = self.tokens.redeem(override, kernel_id, digest)
            if nonce is not None:
                return CellVerdict(True, "ran-anyway", act, decision=decision,
                                   consequence=consequence, event_id=ran_anyway_event_id(nonce))
            return CellVerdict(False, "warned", act, f"{decision.message} (Not run: {why}.)", consequence,
                               decision, detail={"override_refused": why})
        outcome = {"warn": "warned", "block": "blocked", "terminate": "terminated"}[act]
        message = decision.message
        if override is not None and act != "warn":
            message += " (Run anyway does not apply: this category cannot be overridden on your tier.)"
        return CellVerdict(False, outcome, act, message, consequence, decision)

    def _engine_error(self, err: str, *, kernel_id, user, tier, digest, path) -> CellVerdict:
        detail = {"engine_error": err, "on_engine_error": "open" if self.fail_open else "closed"}
        if self.fail_open:
            verdict = CellVerdict(True, "engine-error", "allow")
        else:
            verdict = CellVerdict(False, "engine-error", "block",
                                  f"nbwarden could not check this cell ({err}), and this server refuses cells it "
                                  f"cannot check. Split the cell or simplify it, or ask the operators. "
                                  f"Policy: {self.policy.url}")
        # not a strike either way: the user did nothing wrong by writing code the engine cannot read
        verdict.events.append(self.event("logged" if self.fail_open else "reported", None, user=user,
                                         kernel_id=kernel_id, digest=digest, tier=tier, path=path, detail=detail,
                                         action=verdict.action))
        return verdict

    def _check(self, code: str, ctx: CellContext, *, remember: bool,
               cwd: str | None = None) -> tuple[Report | None, str | None]:
        if len(code) > self.max_cell_bytes:
            return None, f"cell too large to check ({len(code):,} bytes; limit {self.max_cell_bytes:,})"
        try:
            report = self.engine.check_cell(code, ctx, remember=remember)  # a huge cell in pieces, once
            for script in scripts.resolve(scripts.referenced(code), cwd):
                report.findings = _merge(report.findings, self.engine.scan_path(script).findings)
        except Exception as e:  # the engine promises not to raise; if it does, the policy decides
            log.exception("nbwarden: engine raised while checking a cell")
            return None, f"internal error: {type(e).__name__}"
        if report.error:
            return None, report.error
        return report, None

    # -- terminals ------------------------------------------------------------------------------------
    def check_terminal_line(self, line: str, *, user: str | None, terminal: str) -> CellVerdict:
        """One command line typed into a terminal. There is no "Run anyway" in a terminal:
        warn refuses like block; terminate refuses (the shell itself is left alone)."""
        tier = self.tier_of(user)
        digest = code_hash(line)
        try:
            report = self.engine.check_command(line[: self.max_cell_bytes])
        except Exception:
            log.exception("nbwarden: engine raised while checking a terminal line")
            report = Report("<terminal>", error="internal error")
        if report.error:
            return self.commit(self._engine_error(report.error, kernel_id=f"terminal:{terminal}", user=user,
                                                  tier=tier, digest=digest, path=None))
        decision = self.policy.decide(report, tier)
        act = decision.action
        if act in ("allow", "log"):
            if act == "log":
                self.record("logged", decision, user=user, kernel_id=f"terminal:{terminal}", digest=digest, tier=tier)
            return CellVerdict(True, ALLOWED if act == "allow" else "logged", act, decision=decision)
        outcome = "warned" if act == "warn" else "blocked"
        consequence = self.consequence(user, "block")  # before this refusal is recorded
        self.record(outcome, decision, user=user, kernel_id=f"terminal:{terminal}", digest=digest, tier=tier,
                    detail={"via": "terminal"})
        return CellVerdict(False, outcome, act, decision.message.replace("you may cancel or run it anyway",
                                                                          "it was not run"),
                           consequence, decision)

    # -- the REST path ------------------------------------------------------------------------------
    def check_only(self, *, code: str, kernel_id: str | None, user: str | None, path: str | None = None,
                   cell_index: int | None = None, cwd: str | None = None) -> dict[str, Any]:
        """What would happen to this cell, without remembering it (the front end asks
        before it sends). Issues an override token when the answer is warn."""
        tier = self.tier_of(user)
        report, err = self._check_without_remembering(code, kernel_id, cwd, path)
        if err is not None:
            act = "allow" if self.fail_open else "block"
            msg = ("nbwarden could not check this cell (%s); it will run." if self.fail_open else
                   "nbwarden could not check this cell (%s), and this server refuses cells it cannot check.") % err
            return {"action": act, "category": None, "category_name": None, "message": msg, "findings": [],
                    "consequence": "", "policy_url": self.policy.url, "override_token": None}
        decision = self.policy.decide(report, tier)
        token = None
        digest = code_hash(code)
        if decision.action == "warn" and kernel_id:
            token = self.tokens.issue(kernel_id, digest)
            self.record("warned", decision, user=user, kernel_id=kernel_id, digest=digest, tier=tier, path=path,
                        detail={"via": "check", "cell_index": cell_index})
        return {"action": decision.action, "category": decision.category,
                "category_name": CATEGORY_NAMES.get(decision.category or "", decision.category),
                "message": decision.message, "findings": [f.to_dict() for f in decision.findings],
                "consequence": self.consequence(user, decision.action), "policy_url": self.policy.url,
                "override_token": token}

    def _check_without_remembering(self, code: str, kernel_id: str | None, cwd: str | None,
                                   path: str | None) -> tuple[Report | None, str | None]:
        """The REST paths' check: read with the kernel's context (under its lock, since a
        check still reorders the context's cache of seen cells) but not remembered."""
        if not kernel_id:
            return self._check(code, self.engine.new_context(location=path), remember=False, cwd=cwd)
        mem = self.memory(kernel_id)
        with mem.lock:
            if path:
                mem.context.location = path
            return self._check(code, mem.context, remember=False, cwd=cwd)

    def record_choice(self, *, kernel_id: str | None, code: str, choice: str, user: str | None,
                      path: str | None = None, cwd: str | None = None) -> None:
        """The user's answer to a warning: "cancelled" or "ran-anyway". A ran-anyway shares
        its event id with the one the websocket records when the cell arrives with its
        token, so the strike is counted once whichever report comes first."""
        tier = self.tier_of(user)
        digest = code_hash(code)
        report, err = self._check_without_remembering(code, kernel_id, cwd, path)
        decision = self.policy.decide(report, tier) if report is not None else None
        event_id = None
        if choice == "ran-anyway" and kernel_id:
            nonce = self.tokens.latest_nonce(kernel_id, digest)
            event_id = ran_anyway_event_id(nonce) if nonce else None
        self.record(choice, decision, user=user, kernel_id=kernel_id, digest=digest, tier=tier, path=path,
                    detail={"via": "decision"}, event_id=event_id, action="warn")

    # -- what the user is told ------------------------------------------------------------------------
    def consequence(self, user: str | None, action: str) -> str:
        """What this decision brings on the policy's ladder, given the user's local strikes."""
        if action not in ("warn", "block", "terminate"):
            return ""
        step = self.policy.standing([*self._strike_times(user), datetime.now(timezone.utc)]).consequence
        return f"If you run it anyway: {step}" if action == "warn" else step

    def _strike_times(self, user: str | None) -> list[datetime]:
        """The user's strikes from the store, cached for STRIKES_TTL seconds (reading them
        parses every recent event of the user: milliseconds, on the path of a refusal)."""
        if not user:
            return []
        now = time.monotonic()
        cached = self._strikes.get(user)
        if cached is None or now - cached[0] > STRIKES_TTL:
            try:
                cached = (now, self.reporter.strike_times(user), set())
            except Exception:  # a broken store must not break the warning
                cached = (now, [], set())
            self._strikes[user] = cached
        return cached[1]

    def policy_json(self, user: str | None) -> dict[str, Any]:
        p = self.policy
        return {"name": p.name, "version": p.version, "url": p.url, "tiers": p.tiers,
                "default_tier": p.default_tier, "tier": self.tier_of(user), "threshold": p.threshold,
                "table": p.table(), "category_names": dict(CATEGORY_NAMES),
                "ladder": {"window_days": p.window.days,
                           "steps": [{"strikes": s.strikes, "standing": s.standing, "consequence": s.consequence}
                                     for s in p.ladder]}}

    # -- recording ------------------------------------------------------------------------------------
    def commit(self, verdict: CellVerdict) -> CellVerdict:
        """Record a verdict's events; called after the user has the answer, so the store's
        write is never part of the latency they see."""
        while verdict.events:
            self.reporter.report(verdict.events.pop(0))
        return verdict

    def record(self, outcome: str, decision: Decision | None, **kw) -> Event:
        ev = self.event(outcome, decision, **kw)
        self.reporter.report(ev)
        return ev

    def event(self, outcome: str, decision: Decision | None, *, user, kernel_id, digest, tier, path=None,
              detail=None, event_id=None, action=None) -> Event:
        d = {k: v for k, v in (detail or {}).items() if v is not None}
        if path:
            d["path"] = path
        fields = dict(user=user, server=self.server, kernel=kernel_id, tier=tier, content_hash=digest, detail=d)
        ev = (Event.of_decision(decision, source="jupyter", outcome=outcome, **fields) if decision else
              Event(source="jupyter", outcome=outcome, action=action or "allow", **fields))
        if event_id:
            ev.id = event_id
        cached = self._strikes.get(user) if ev.counts_against_user else None
        if cached is not None and ev.id not in cached[2]:
            cached[2].add(ev.id)  # a ran-anyway reported twice shares one id: one strike
            cached[1].append(datetime.fromisoformat(ev.time))
        return ev


def _merge(findings: list, more: list) -> list:
    seen = {(f.rule_id, f.content_hash) for f in findings}
    out = list(findings)
    for f in more:
        if (f.rule_id, f.content_hash) not in seen:
            seen.add((f.rule_id, f.content_hash))
            out.append(f)
    out.sort(key=lambda f: (-f.confidence, f.rule_id))
    return out


def ran_anyway_event_id(nonce: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"nbwarden:ran-anyway:{nonce}").hex

