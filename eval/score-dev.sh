#!/usr/bin/env bash
# Reproduce the README's detection figures on the dev manifests.
# Needs the corpus laid out first (see eval/README.md): CORPUS=/path/to/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../corpus}
EVADED=${EVADED:-../corpus-evaded}
EVAL=${EVAL:-../shared/eval}
SCAN="$PWD/.venv/bin/nbwarden scan --format jsonl"
echo "## dev set"
python3 "$EVAL/score" "$EVAL/dev-disallowed.tsv" "$EVAL/dev-benign.tsv" --corpus "$CORPUS" --scanner "$SCAN" --show "${SHOW:-0}"
python3 eval/evade.py "$EVAL/dev-disallowed.tsv" --corpus "$CORPUS" --out "$EVADED" >/dev/null
for v in strip rename b64shell split all decoy all+weights; do
  echo "## evaded: $v"
  python3 "$EVAL/score" "$EVAL/dev-disallowed.tsv" --corpus "$EVADED/$v" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall|^miss"
done

# Held-out sets: every eval/heldout*/ folder holds <set>-disallowed.tsv and/or <set>-benign.tsv
# manifests of public files in no other manifest (see eval/README.md for what each was used for).
# Lay each out under one root, then HELDOUT_ROOT=../heldout scores every set found there, and
# the all-at-once rewrite of its disallowed files (each with eval/score-set.sh):
#   for d in eval/heldout*/; do s=$(basename "$d")
#     python3 "$EVAL/materialize" "$d"*.tsv --mirror /work/.mirror --out "../heldout/$s"; done
# SETS="heldout8-mining heldout8-remote" scores only those sets: a helper studying some sets
# names them, so that sets kept unseen (heldout9-mixed, heldout10-mixed) that are laid out under
# the same root are not scored by accident.
if [ -n "${HELDOUT_ROOT:-}" ]; then
  for d in eval/heldout*/; do
    name=$(basename "$d"); corpus="$HELDOUT_ROOT/$name"
    if [ -n "${SETS:-}" ] && [[ " $SETS " != *" $name "* ]]; then continue; fi
    [ -d "$corpus" ] || { echo "## $name: not laid out under $HELDOUT_ROOT, skipped"; continue; }
    CORPUS="$corpus" EVAL="$EVAL" SHOW="${SHOW:-0}" bash eval/score-set.sh "$name" "$PWD"
  done
fi
