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

# The held-out manifests (eval/heldout/, 51 other public repositories), when laid out:
#   python3 "$EVAL/materialize" eval/heldout/*.tsv --mirror /work/.mirror --out ../heldout
if [ -n "${HELDOUT:-}" ]; then
  HELD_EVADED=${HELD_EVADED:-$HELDOUT-evaded}
  echo "## held-out set"
  python3 "$EVAL/score" eval/heldout/heldout-disallowed.tsv eval/heldout/heldout-benign.tsv --corpus "$HELDOUT" --scanner "$SCAN" --show "${SHOW:-0}"
  python3 eval/evade.py eval/heldout/heldout-disallowed.tsv --corpus "$HELDOUT" --out "$HELD_EVADED" --variants all >/dev/null
  echo "## held-out set, evaded: all"
  python3 "$EVAL/score" eval/heldout/heldout-disallowed.tsv --corpus "$HELD_EVADED/all" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall|^miss"
fi

# Later held-out sets (eval/heldout2/, eval/heldout3/, built in session 3), when laid out:
#   python3 "$EVAL/materialize" eval/heldout2/*.tsv --mirror /work/.mirror --out ../heldout2
#   HELDOUT2=../heldout2 (and HELDOUT3=../heldout3) score each set and its all-at-once rewrite.
score_set() {  # name, laid-out corpus, folder for its rewrites
  echo "## $1"
  python3 "$EVAL/score" "eval/$1/$1-disallowed.tsv" "eval/$1/$1-benign.tsv" --corpus "$2" --scanner "$SCAN" --show "${SHOW:-0}"
  python3 eval/evade.py "eval/$1/$1-disallowed.tsv" --corpus "$2" --out "$3" --variants all >/dev/null
  echo "## $1, evaded: all"
  python3 "$EVAL/score" "eval/$1/$1-disallowed.tsv" --corpus "$3/all" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall|^miss"
}
if [ -n "${HELDOUT2:-}" ]; then score_set heldout2 "$HELDOUT2" "${HELD2_EVADED:-$HELDOUT2-evaded}"; fi
if [ -n "${HELDOUT3:-}" ]; then score_set heldout3 "$HELDOUT3" "${HELD3_EVADED:-$HELDOUT3-evaded}"; fi
if [ -n "${HELDOUT4:-}" ]; then score_set heldout4 "$HELDOUT4" "${HELD4_EVADED:-$HELDOUT4-evaded}"; fi
if [ -n "${HELDOUT5:-}" ]; then score_set heldout5 "$HELDOUT5" "${HELD5_EVADED:-$HELDOUT5-evaded}"; fi

# A third set, eval/heldout-deepfake/ (session 3: 19 disallowed deepfake files from 12 repositories and
# 326 near-miss files from 5 others, none in the other manifests), laid out the same way:
#   python3 "$EVAL/materialize" eval/heldout-deepfake/*.tsv --mirror /work/.mirror --out ../heldout-deepfake
if [ -n "${HELDOUT_DEEPFAKE:-}" ]; then
  echo "## held-out deepfake set"
  python3 "$EVAL/score" eval/heldout-deepfake/deepfake-disallowed.tsv eval/heldout-deepfake/deepfake-benign.tsv --corpus "$HELDOUT_DEEPFAKE" --scanner "$SCAN" --show "${SHOW:-0}"
  python3 eval/evade.py eval/heldout-deepfake/deepfake-disallowed.tsv --corpus "$HELDOUT_DEEPFAKE" --out "$HELDOUT_DEEPFAKE-evaded" --variants all >/dev/null
  echo "## held-out deepfake set, evaded: all"
  python3 "$EVAL/score" eval/heldout-deepfake/deepfake-disallowed.tsv --corpus "$HELDOUT_DEEPFAKE-evaded/all" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall"
fi
