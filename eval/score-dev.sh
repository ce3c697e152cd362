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
for v in strip rename b64shell split all; do
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

# The second held-out set (eval/heldout2/, built in session 3), when laid out:
#   python3 "$EVAL/materialize" eval/heldout2/*.tsv --mirror /work/.mirror --out ../heldout2
if [ -n "${HELDOUT2:-}" ]; then
  HELD2_EVADED=${HELD2_EVADED:-$HELDOUT2-evaded}
  echo "## held-out set 2"
  python3 "$EVAL/score" eval/heldout2/heldout2-disallowed.tsv eval/heldout2/heldout2-benign.tsv --corpus "$HELDOUT2" --scanner "$SCAN" --show "${SHOW:-0}"
  python3 eval/evade.py eval/heldout2/heldout2-disallowed.tsv --corpus "$HELDOUT2" --out "$HELD2_EVADED" --variants all >/dev/null
  echo "## held-out set 2, evaded: all"
  python3 "$EVAL/score" eval/heldout2/heldout2-disallowed.tsv --corpus "$HELD2_EVADED/all" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall|^miss"
fi
