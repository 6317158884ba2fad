#!/usr/bin/env bash
# Runs every test: unit, integration (real app + real providers over HTTP on 127.0.0.1),
# browser (headless Chromium) and keycloak (a real Keycloak server). Installs what it needs
# first: a .venv with the package and its test extras, Debian's chromium, redis-server, npm,
# maven and a Java runtime when missing, the pinned axe-core from npm (the accessibility
# tests) and the pinned Keycloak from Maven Central (scripts/keycloak.sh).
# Lint (ruff), formatting (ruff format) and strict types (mypy) run first and stop it on a problem.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k cookie
# Ends with a line-coverage report of auth/ that includes the real app processes the tests start
# (coverage's subprocess support: COVERAGE_PROCESS_START and the .pth file coverage installs);
# the exit status is always pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Debian packages the tests run for real: chromium (browser tests), redis-server (the Redis session store).
# shellcheck source=scripts/debian.sh
source scripts/debian.sh
install_debian_package chromium chromium "the browser tests"
install_debian_package redis-server redis-server "the session store tests"

# axe-core for tests/browser/test_accessibility.py: the version tests/a11y/package-lock.json locks
# (npm's registry, checked against the lockfile's integrity hash), installed with npm ci into
# .cache/npm/axe, again only when the lockfile changes. Debian's npm when npm is missing.
install_debian_package npm npm "the accessibility tests (axe-core from npm)"
AXE_DIR=.cache/npm/axe
if ! cmp -s tests/a11y/package-lock.json "$AXE_DIR/package-lock.json" \
  || [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$AXE_DIR"
  cp tests/a11y/package.json tests/a11y/package-lock.json "$AXE_DIR/"
  npm ci --prefix "$AXE_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error
fi
echo "axe-core for the accessibility tests: $AXE_DIR (npm ci of tests/a11y/package-lock.json)"

# Keycloak for tests/keycloak: the version of docker/compose.yml from Maven Central (cached in
# ~/.m2), unpacked once into .cache/keycloak/tests; scripts/keycloak.sh installs Debian's maven
# and a Java runtime when missing. The tests start it once per run (tests/support/keycloak.py).
echo "Keycloak for tests/keycloak: $(bash scripts/keycloak.sh --fetch --install-dir .cache/keycloak/tests)"

# Gates before the tests: lint, formatting and strict types (settings in pyproject.toml).
echo "ruff check, ruff format --check, mypy:"
"$VENV/bin/python" -m ruff check --quiet auth devprovider tests scripts app.py demo
"$VENV/bin/python" -m ruff format --check --quiet auth devprovider tests scripts app.py demo
"$VENV/bin/python" -m mypy
echo

# Every Python process started from here on (pytest, and `streamlit run` under it) measures
# auth/ with the [tool.coverage.*] settings in pyproject.toml and writes .coverage.<host>.<pid>.*
# here, whatever its working directory; combined into .coverage after the run.
export COVERAGE_FILE="$PWD/.coverage"
"$VENV/bin/python" -m coverage erase   # before COVERAGE_PROCESS_START, or it would measure itself
export COVERAGE_PROCESS_START="$PWD/pyproject.toml"

status=0
"$VENV/bin/python" -m pytest "$@" || status=$?

# The report is information: its own trouble (say, no data after `-k nothing`) never changes
# the status, and it never hides a test failure.
unset COVERAGE_PROCESS_START
echo
echo "Line coverage of auth/ (unit, integration, browser and the app subprocesses; fully covered modules not listed):"
if "$VENV/bin/python" -m coverage combine --quiet; then
  "$VENV/bin/python" -m coverage report || true
else
  echo "(no coverage data to combine)"
fi
exit "$status"
