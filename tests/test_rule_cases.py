"""The one generic test over every rule pack's cases.yaml: must flag, must not, known miss."""
import pytest

from nbwarden.engine import ruleset
from nbwarden.rules.cases import lint, load_cases, run_case

RULES = ruleset.load()
CASES = load_cases(RULES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.where.split('/rules/')[-1]}:{c.name}" for c in CASES])
def test_case(engine, case):
    assert run_case(engine, case) == []


def test_every_rule_has_both_kinds_of_case():
    problems = [p for p in lint(RULES) if not p.startswith("category ")]
    assert problems == []
