"""Every repository named by a manifest (the dev manifests and eval/heldout*/), one per line:
the list a new held-out set must avoid. Manifests differ in their columns (some start with
`category`, others with `group, subtopic`), so the `repo` column is found by its header.

    python3 eval/known_repos.py [--shared ../shared/eval] > ../heldout/known-repos.txt
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def repos(manifest: Path) -> set[str]:
    with manifest.open(newline="") as f:
        return {row["repo"].strip() for row in csv.DictReader(f, delimiter="\t") if (row.get("repo") or "").strip()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "eval"))
    a = ap.parse_args()
    here = Path(__file__).resolve().parent
    manifests = sorted(Path(a.shared).glob("*.tsv")) + sorted(here.glob("heldout*/*.tsv"))
    for r in sorted(set().union(*(repos(m) for m in manifests))):
        print(r)


if __name__ == "__main__":
    main()
