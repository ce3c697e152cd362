"""eval/known_repos.py reads the repo column by its header, whatever the manifest's layout."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_repo_column_found_by_header_in_both_layouts(tmp_path):
    (tmp_path / "a.tsv").write_text("group\tsubtopic\trepo\tcommit\tpath\n"
                                    "mining\tx\towner/one\t" + "a" * 40 + "\tf.sh\n")
    (tmp_path / "b.tsv").write_text("category\trepo\tcommit\tpath\n"
                                    "mining\towner/two\t" + "b" * 40 + "\tg.sh\n")
    out = subprocess.run([sys.executable, str(ROOT / "eval" / "known_repos.py"), "--shared", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert {"owner/one", "owner/two"} <= set(out)
    assert not any(len(x) == 40 and "/" not in x for x in out), "no commit hash taken for a repository"
