#!/usr/bin/env bash
# Installs everything nbwarden and its tests need, from nothing: system packages (Debian),
# a virtual environment in .venv, nbwarden with all extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Xvfb: the watcher's tests check that a virtual display (RL rendering) is left alone
if [ "$(id -u)" = 0 ]; then
  command -v Xvfb >/dev/null || { apt-get update -qq; apt-get install -y -qq xvfb >/dev/null; }
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/pip install -q -e '.[all,test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import nbwarden, re2, yaml" 
echo "installed: $(.venv/bin/nbwarden --version)"
