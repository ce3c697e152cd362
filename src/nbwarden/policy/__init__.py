"""The published policy: categories x tiers -> action, the escalation ladder, allowlists
and inline waivers. Everything that turns findings into consequences reads it; nothing
else decides what happens to a user.

    policy = Policy.load()                     # the shipped default, or a path
    decision = policy.decide(report, tier="free")
    decision.action        # "allow" | "log" | "warn" | "block" | "terminate"
"""
from .model import ACTIONS, Decision, LadderStep, Policy, PolicyError, Standing

__all__ = ["ACTIONS", "Decision", "LadderStep", "Policy", "PolicyError", "Standing"]
