"""The matcher finds the same facts as matching every pattern against every fact alone."""
import random

import re2

from nbwarden.engine.matcher import Matcher
from nbwarden.engine.model import Fact, Unit
from nbwarden.engine.ruleset import load

_VALUES = {
    "program": ["xmrig", "python", "ls", "ngrok", "git", "t-rex", "bash", "wget"],
    "call": ["os.system", "pyngrok.ngrok.connect", "gradio.Interface.launch", "np.zeros", "torch.load",
             "insightface.app.FaceAnalysis", "print", "subprocess.run"],
    "string": ["stratum+tcp://pool.example.net:3333", "data.csv", "inswapper_128.onnx", "hello world",
               "rvn.poolbinance.com", "alpha", "beta", "-o stratum+ssl://x:443", "ok"],
    "command": ["xmrig -o stratum+tcp://p:3333 -u w", "ls -la", "pip install roop", "ngrok http 8888"],
}


def _reference(matcher: Matcher, facts: list[Fact], compiled: dict) -> dict[int, list[Fact]]:
    """Every pattern of the fact's kind searched in every fact on its own."""
    out: dict[int, list[Fact]] = {}
    for kind, pats in matcher._patterns.items():
        fs = [f for f in facts if f.kind == kind]
        for pid, src in enumerate(pats):
            rx = compiled.get(src) or compiled.setdefault(src, re2.compile(src))
            for f in fs:
                if rx.search(f.value.replace("\n", " ")):
                    for leaf in matcher._pattern_leaves[(kind, pid)]:
                        out.setdefault(leaf, []).append(f)
    return out


def _by_leaf(hits):
    return {leaf: sorted(id(f) for f in fs) for leaf, fs in hits.items() if fs}


def test_hits_equal_fact_by_fact_matching(engine):
    rnd = random.Random(5)
    unit, compiled = Unit("x"), {}
    for _ in range(12):
        facts = [Fact(kind, rnd.choice(vals), unit, 1) for kind, vals in _VALUES.items()
                 for _ in range(rnd.randint(0, 40))]
        rnd.shuffle(facts)
        assert _by_leaf(engine.matcher.hits(facts)) == _by_leaf(_reference(engine.matcher, facts, compiled))


def test_a_regex_matching_across_two_facts_is_no_hit(tmp_path):
    pack = tmp_path / "p"
    pack.mkdir()
    (pack / "rules.yaml").write_text("""pack: p
rules:
  - {id: NBW9001, title: t, category: mining, severity: low, confidence: 0.9, maturity: sandbox,
     description: d, explanation: e, evasions: v, false_positives: f,
     when: {string: {regex: ['alpha\\s+beta']}}}
""")
    m = Matcher(load([pack], entry_points=False))
    leaves = next(leaves for rule, _, _, leaves in m.compiled if rule.id == "NBW9001")
    unit = Unit("x")

    def lines(facts):
        return [f.line for leaf, fs in m.hits(facts).items() if leaf in leaves for f in fs]

    apart = [Fact("string", "alpha", unit, 1), Fact("string", "beta", unit, 2)]
    assert lines(apart) == []
    assert lines(apart + [Fact("string", "x", unit, 3)] * 7 + [Fact("string", "alpha  beta", unit, 4)]) == [4]


def test_sets_compiled_on_first_use_by_racing_threads_match_alike():
    import threading
    unit = Unit("x")
    facts = [Fact(kind, v, unit, i) for i, (kind, vals) in enumerate(_VALUES.items()) for v in vals]
    expected = _by_leaf(Matcher(load(entry_points=False)).compile_all().hits(facts))
    fresh = Matcher(load(entry_points=False))
    assert not fresh._sets  # nothing compiled before a fact asks
    results, barrier = [], threading.Barrier(6)

    def worker():
        barrier.wait()
        results.append(_by_leaf(fresh.hits(facts)))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 6
