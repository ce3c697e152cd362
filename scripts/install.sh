#!/usr/bin/env bash
# Installs everything nbwarden and its tests need, from nothing: system packages (Debian),
# a virtual environment in .venv, nbwarden with all extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
apt_need() {  # apt_need <command or path> <package>: install the Debian package when missing
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
      echo "install.sh: $2 is missing; install it as root (apt-get install $2)" >&2
    fi
  fi
}
# The policy service's tests start a throwaway PostgreSQL cluster; the service and JupyterLab
# browser tests drive Debian's chromium with Playwright (never a browser download).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then apt_need /nonexistent/initdb postgresql; fi
apt_need chromium chromium
# PostgreSQL refuses to run as root: tests run the server as the 'postgres' user (created by
# the Debian package; created here if the binaries came from elsewhere).
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then useradd --system --no-create-home postgres; fi
# configurable-http-proxy for the JupyterHub integration test, in a project-local folder.
if command -v npm >/dev/null 2>&1 && [ ! -x .npm-tools/node_modules/.bin/configurable-http-proxy ]; then
  npm install --silent --no-audit --no-fund --prefix .npm-tools configurable-http-proxy >/dev/null 2>&1 \
    || echo "install.sh: npm could not install configurable-http-proxy; the hub test will skip" >&2
fi
# Xvfb: the watcher's tests check that a virtual display (RL rendering) is left alone
apt_need Xvfb xvfb
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
