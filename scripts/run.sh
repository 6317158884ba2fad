#!/usr/bin/env bash
# Runs the demo app at http://localhost:8501. Installs what it needs into .venv first.
# With no AUTH_PROVIDERS configured (environment or .env) it also starts a local
# development OpenID provider with demo users alice and bob: DEVELOPMENT ONLY.
# Extra arguments go to `streamlit run`, e.g. scripts/run.sh --server.port 8502
#
# scripts/run.sh --keycloak: the demo against Keycloak without Docker instead, with the
# settings of scripts/keycloak-app.env (not .env). It uses the Keycloak already serving the realm
# at http://localhost:${KEYCLOAK_PORT:-8080} (scripts/keycloak.sh in another terminal keeps it
# across app restarts), else starts one with scripts/keycloak.sh (log in .cache/keycloak/dev.log)
# and stops it when the app stops. Sign in as alice / alice-dev-password (the realm's users are
# printed). The app stays on port 8501: the realm's redirect URIs name it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'

if [ "${1:-}" != --keycloak ]; then
  # The demo is app.py at the repository root (auth.dev defaults to app.py in the working directory).
  exec "$VENV/bin/python" -m auth.dev app.py "$@"
fi
shift

KEYCLOAK_PORT="${KEYCLOAK_PORT:-8080}"
realm_url="http://localhost:$KEYCLOAK_PORT/realms/streamlit"
serving() {  # the realm's discovery document answers: Keycloak is up and the realm imported
  "$VENV/bin/python" -c 'import sys, requests
try:
    sys.exit(0 if requests.get(sys.argv[1], timeout=2).ok else 1)
except requests.RequestException:
    sys.exit(1)' "$realm_url/.well-known/openid-configuration"
}

keycloak=
if serving; then
  echo "Using the Keycloak serving $realm_url."
else
  mkdir -p .cache/keycloak
  log=.cache/keycloak/dev.log
  echo "Starting Keycloak on port $KEYCLOAK_PORT (scripts/keycloak.sh; its log: $log)..."
  bash scripts/keycloak.sh --port "$KEYCLOAK_PORT" --management-port "${KEYCLOAK_MANAGEMENT_PORT:-9000}" >"$log" 2>&1 &
  keycloak=$!
  trap 'kill -TERM "$keycloak" 2>/dev/null || true; wait "$keycloak" 2>/dev/null || true' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  until serving; do
    if ! kill -0 "$keycloak" 2>/dev/null; then
      echo "scripts/keycloak.sh stopped; the end of its log ($log):" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 1  # readiness poll of a starting server
  done
  # From its banner: the URLs, the admin login and the demo users.
  sed -n '/is ready after/,/Run the demo against it/{/Run the demo against it/d;p}' "$log"
fi

AUTH_ENV_FILE=scripts/keycloak-app.env AUTH_KEYCLOAK_URL="http://localhost:$KEYCLOAK_PORT" \
  "$VENV/bin/python" -m auth.dev app.py "$@"
