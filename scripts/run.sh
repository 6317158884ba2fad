#!/usr/bin/env bash
# Runs the demo app at http://localhost:8501. Installs what it needs into .venv first.
# With no AUTH_PROVIDERS configured (environment or .env) it also starts a local
# development OpenID provider with demo users alice and bob: DEVELOPMENT ONLY.
# Extra arguments go to `streamlit run`, e.g. scripts/run.sh --server.port 8502
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# The demo is app.py at the repository root (auth.dev defaults to app.py in the working directory).
exec "$VENV/bin/python" -m auth.dev app.py "$@"
