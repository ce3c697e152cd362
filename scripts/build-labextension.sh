#!/usr/bin/env bash
# Rebuilds the JupyterLab extension from labextension/ into src/nbwarden/labextension/
# (committed: the wheel ships it prebuilt, so neither CI nor users need Node).
# Needs Node >= 20 and npm with the npm registry; uses the builder of the JupyterLab
# installed in .venv. Run it after changing anything under labextension/, then commit
# labextension/ and src/nbwarden/labextension/ together.
set -euo pipefail
cd "$(dirname "$0")/../labextension"
export PATH="$PWD/../.venv/bin:$PATH"
command -v node >/dev/null || { echo "build-labextension: node (>= 20) is needed: apt-get install nodejs npm" >&2; exit 1; }
command -v jupyter >/dev/null || { echo "build-labextension: run scripts/install.sh first (needs .venv with jupyterlab)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
rm -rf lib tsconfig.tsbuildinfo
npx tsc
jupyter labextension build .
echo "built: $(cd ../src/nbwarden/labextension && du -sh . | cut -f1) in src/nbwarden/labextension"
