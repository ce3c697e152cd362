#!/usr/bin/env bash
# Score only the benign manifests of every held-out set laid out under $HELDOUT_ROOT.
# For each set with eval/<set>/<set>-benign.tsv and a <root>/<set>/benign/ folder, runs
#   python3 $EVAL/score <benign tsv> --corpus <root>/<set> --scanner "$SCAN" --show N
# and prints the FPR lines, score's own "false positive:" lines (file name, subtopic,
# categories), then one "flagged: <path>  rules: <ids>" line per flagged file, taken from
# the scanner's own JSONL (captured as score runs it: no second scan), and an
# "error: <path> <message>" line per file the scanner could not read.
# Only benign files are ever scanned, so unseen disallowed folders are never touched.
#
#   SCAN="/work/wt/x/.venv/bin/nbwarden scan --format jsonl" PYTHONPATH=/work/wt/x/src \
#     bash eval/score-benign.sh
set -euo pipefail
SCAN=${SCAN:-"/work/main/.venv/bin/nbwarden scan --format jsonl"}
HELDOUT_ROOT=${HELDOUT_ROOT:-/work/heldout}
EVALDIR=${EVALDIR:-$(cd "$(dirname "$0")" && pwd)}   # where <set>/<set>-benign.tsv live (this folder)
EVAL=${EVAL:-/work/shared/eval}       # where the score tool lives
SHOW=${SHOW:-100000}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/scan.sh" <<'EOF'
#!/usr/bin/env bash
# run $SCAN on the given files, copying its JSONL to $CAP as score reads it
eval "$SCAN"' "$@"' | tee -a "$CAP"
exit "${PIPESTATUS[0]}"
EOF
export SCAN
echo "# scanner: $SCAN"
echo "# PYTHONPATH: ${PYTHONPATH:-}"
for corpus in "$HELDOUT_ROOT"/*/; do
  corpus=${corpus%/}; name=$(basename "$corpus")
  case $name in *-evaded) continue;; esac
  tsv="$EVALDIR/$name/$name-benign.tsv"
  [ -f "$tsv" ] && [ -d "$corpus/benign" ] || continue
  export CAP="$tmp/$name.jsonl"; : > "$CAP"
  echo "## $name (benign)"
  python3 "$EVAL/score" "$tsv" --corpus "$corpus" --scanner "bash $tmp/scan.sh" --show "$SHOW" \
    | grep -E "^files |^\| benign|^benign overall|^scanner:|^false positive:" || true
  python3 - "$CAP" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        r = json.loads(line)
    except json.JSONDecodeError:
        continue
    if isinstance(r, dict) and r.get("error"):
        print(f"error: {r.get('path')}  {r['error']}")
    if isinstance(r, dict) and r.get("verdict") == "flag":
        rules = sorted({f.get("rule_id", "?") for f in r.get("findings") or []} |
                       {x for c in r.get("categories") or [] for x in c.get("rules") or []})
        cats = sorted({c.get("id", "?") for c in r.get("categories") or []})
        seen[r["path"]] = (rules, cats)
for p, (rules, cats) in sorted(seen.items()):
    print(f"flagged: {p}  rules: {','.join(rules)}  categories: {','.join(cats)}")
EOF
done
