#!/usr/bin/env bash
# Runs every test: unit, integration (real app + real providers over HTTP on 127.0.0.1)
# and browser (headless Chromium). Installs what it needs first: a .venv with the
# package and its test extras, and Debian's chromium package when it is missing.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k cookie
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing and cannot be installed without root: apt-get install chromium" >&2
    exit 1
  fi
fi

exec "$VENV/bin/python" -m pytest "$@"
