#!/usr/bin/env bash
# Installs everything nbwarden and its tests need, from nothing: system packages (Debian),
# a virtual environment in .venv, nbwarden with all extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; return "${PIPESTATUS[0]}"; }
quiet .venv/bin/pip install -q --upgrade pip
quiet .venv/bin/pip install -q -e '.[all,test]'
.venv/bin/python -c "import nbwarden, re2, yaml" 
echo "installed: $(.venv/bin/nbwarden --version)"

# The SARIF 2.1.0 JSON schema, for the test that validates our SARIF output. It ships in an
# npm package; we keep it out of the repository and fetch it from the registry here.
SCHEMA=.cache/sarif-schema-2.1.0.json
if [ ! -s "$SCHEMA" ] && command -v npm >/dev/null; then
  mkdir -p .cache/npm-sarif
  (cd .cache/npm-sarif && npm pack -q @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null 2>&1 \
    && tar xzf microsoft-jest-sarif-*.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json \
    && cp package/lib/schemas/sarif-2.1.0-rtm.5.json "../sarif-schema-2.1.0.json") || echo "warning: SARIF schema not fetched"
fi
