"""The published policy turns findings into actions, per tier, with waivers, allowlists and
the escalation ladder."""
from datetime import datetime, timedelta, timezone

import pytest

from nbwarden.policy import Policy, PolicyError

MINER = "!./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x"
TUNNEL_ONLY = "!./xmrig --version"


@pytest.fixture(scope="module")
def policy():
    return Policy.load()


def test_actions_by_tier(engine, policy):
    r = engine.check_cell(MINER)
    d = policy.decide(r, "free")
    assert d.action == "terminate" and d.category == "mining"
    assert "cryptocurrency mining" in d.message and policy.url in d.message
    assert policy.decide(r, "research").action == "terminate"
    assert policy.decide(r, "no-such-tier").tier == policy.default_tier


def test_clean_code_is_allowed(engine, policy):
    d = policy.decide(engine.check_cell("import numpy as np\nnp.arange(3)"), "free")
    assert d.action == "allow" and d.findings == []


def test_waivers_count_only_on_the_tiers_the_policy_names(engine, policy):
    code = MINER + "  # nbwarden: allow NBW201 NBW202 NBW203 NBW216 -- benchmarking our own pool in the lab"
    r = engine.check_cell(code)
    assert all(f.waived for f in r.findings)
    assert policy.decide(r, "free").action == "terminate", "free tier: waivers are not honoured"
    d = policy.decide(r, "research")
    assert d.action == "allow" and len(d.waived) == len(r.findings)


def test_allowlist_by_content_hash(engine, policy):
    r = engine.check_cell(MINER)
    allowed = policy.with_allowlist(f.content_hash for f in r.findings)
    d = allowed.decide(r, "free")
    assert d.action == "allow" and len(d.allowlisted) == len(r.findings)
    other = engine.check_cell(MINER.replace("pool.example.net", "other.example.org"))
    assert allowed.decide(other, "free").action == "terminate", "a different finding is not allowlisted"


def test_ladder_standing_counts_strikes_in_the_window(policy):
    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert policy.standing([], now).standing == "good"
    one = policy.standing([now - timedelta(days=1)], now)
    assert one.standing == "warned" and "first warning" in one.consequence
    assert policy.standing([now - timedelta(days=d) for d in (1, 2)], now).standing == "restricted"
    assert policy.standing([now - timedelta(days=d) for d in (1, 2, 3)], now).standing == "suspended"
    assert policy.standing([now - timedelta(days=40)] * 3, now).standing == "good", "old strikes expire"


@pytest.mark.parametrize("text,needle", [
    ("tiers: [free]\nactions: {mining: {free: explode}}", "'explode' is not one of"),
    ("tiers: [free]\nactions: {crypto: {free: block}}", "unknown category 'crypto'"),
    ("tiers: [free]\nactions: {mining: {gold: block}}", "tier 'gold' is not in tiers"),
    ("tiers: [free]\nactions: {}\ncolour: red", "unknown key(s) colour"),
    ("tiers: [free]\nactions: {}\nladder: {steps: [{strikes: 2, standing: warned}, {strikes: 1, standing: suspended}]}",
     "strikes must increase"),
    ("actions: {}", "missing tiers"),
    ("- a list", "a policy is a mapping"),
])
def test_bad_policies_say_how_to_fix_them(tmp_path, text, needle):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    with pytest.raises(PolicyError, match=None) as e:
        Policy.load(p)
    assert needle in str(e.value)


def test_policy_table_covers_every_category(policy):
    from nbwarden.engine.ruleset import CATEGORIES
    rows = policy.table()
    assert [r[0] for r in rows[1:]] == list(CATEGORIES)
    assert rows[0] == ["category", *policy.tiers]
