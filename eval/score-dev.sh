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
  python3 "$EVAL/score" "$EVAL/dev-disallowed.tsv" --corpus "$EVADED/$v" --scanner "$SCAN" --show "${SHOW:-0}" | grep -E "^\| disallowed|overall"
done
