#!/usr/bin/env bash
# Score one held-out set with the rules of a repository checkout, plain and under the evader's
# `all` rewrite: the way an unseen set (heldout9-mixed, heldout10-mixed) is rescored after each
# round of rule changes without scoring every other set. Lay the set out first (eval/README.md):
#   python3 ../shared/eval/materialize eval/SET/*.tsv --mirror /work/.mirror --out /work/heldout/SET
# usage: eval/score-set.sh SET [REPO]   (SET: a folder of eval/ holding SET-disallowed.tsv and/or
#        SET-benign.tsv; REPO: the checkout whose src/ and eval/evade.py are used, default /work/main)
# env: DIS / BEN (manifests scored, default the set's own), CORPUS (default /work/heldout/SET),
#      EVADED (default $CORPUS-evaded), EVAL (the shared score tool's folder, default
#      /work/shared/eval), SHOW (misses printed, default 0: an unseen set's misses are not read)
set -euo pipefail
SET=${1:?usage: eval/score-set.sh SET [REPO]}
REPO=$(cd "${2:-/work/main}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=${CORPUS:-/work/heldout/$SET}
EVADED=${EVADED:-$CORPUS-evaded}
EVAL=${EVAL:-/work/shared/eval}
SHOW=${SHOW:-0}
DIS=${DIS:-$HERE/$SET/$SET-disallowed.tsv}
BEN=${BEN:-$HERE/$SET/$SET-benign.tsv}
NBW="$REPO/.venv/bin/nbwarden"
[ -x "$NBW" ] || NBW=/work/main/.venv/bin/nbwarden
SCAN="env PYTHONPATH=$REPO/src $NBW scan --format jsonl"
[ -d "$CORPUS" ] || { echo "corpus $CORPUS not laid out (see the header of this script)" >&2; exit 2; }
# a set may be laid out in part (its benign files only, to check near misses): score what is there
manifests=()
[ -f "$DIS" ] && [ -d "$CORPUS/disallowed" ] && manifests+=("$DIS")
[ -f "$BEN" ] && [ -d "$CORPUS/benign" ] && manifests+=("$BEN")
[ ${#manifests[@]} -gt 0 ] || { echo "nothing of $SET to score in $CORPUS" >&2; exit 2; }

echo "## $SET, rules of $REPO at $(git -C "$REPO" rev-parse --short HEAD)"
echo "## plain"
python3 "$EVAL/score" "${manifests[@]}" --corpus "$CORPUS" --scanner "$SCAN" --show "$SHOW"
if [ "${manifests[0]}" = "$DIS" ]; then
  rm -rf "$EVADED"
  python3 "$REPO/eval/evade.py" "$DIS" --corpus "$CORPUS" --out "$EVADED" --variants all >/dev/null
  echo "## evaded: all"
  python3 "$EVAL/score" "$DIS" --corpus "$EVADED/all" --scanner "$SCAN" --show "$SHOW"
fi
