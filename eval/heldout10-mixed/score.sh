#!/usr/bin/env bash
# Score heldout10-mixed with the rules of a repository checkout, plain and under the evader's
# `all` rewrite. The corpus must be laid out first (see eval/README.md,
# heldout10-mixed, session 7):
#   python3 ../shared/eval/materialize eval/heldout10-mixed/*.tsv --mirror /work/.mirror \
#     --out /work/heldout/heldout10-mixed
# usage: eval/heldout10-mixed/score.sh [REPO]   (REPO: the checkout whose src/ and eval/evade.py
#        are used, default /work/main)
# env: DIS / BEN (manifests scored, default the two beside this script), CORPUS (default /work/heldout/heldout10-mixed), EVADED (default $CORPUS-evaded),
#      EVAL (the shared score tool's folder, default /work/shared/eval), SHOW (misses printed, 100)
set -euo pipefail
REPO=$(cd "${1:-/work/main}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=${CORPUS:-/work/heldout/heldout10-mixed}
EVADED=${EVADED:-$CORPUS-evaded}
EVAL=${EVAL:-/work/shared/eval}
SHOW=${SHOW:-100}
DIS=${DIS:-$HERE/heldout10-mixed-disallowed.tsv}
BEN=${BEN:-$HERE/heldout10-mixed-benign.tsv}
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
NBW="$REPO/.venv/bin/nbwarden"
[ -x "$NBW" ] || NBW=/work/main/.venv/bin/nbwarden
SCAN="env PYTHONPATH=$REPO/src $NBW scan --format jsonl"
[ -d "$CORPUS" ] || { echo "corpus $CORPUS not laid out (see the header of this script)" >&2; exit 2; }

echo "## heldout10-mixed, rules of $REPO at $(git -C "$REPO" rev-parse --short HEAD)"
echo "## plain"
python3 "$EVAL/score" "$DIS" "$BEN" --corpus "$CORPUS" --scanner "$SCAN" --show "$SHOW"
rm -rf "$EVADED"
python3 "$REPO/eval/evade.py" "$DIS" --corpus "$CORPUS" --out "$EVADED" --variants all >/dev/null
echo "## evaded: all"
python3 "$EVAL/score" "$DIS" --corpus "$EVADED/all" --scanner "$SCAN" --show "$SHOW"
