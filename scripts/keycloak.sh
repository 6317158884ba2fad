#!/usr/bin/env bash
# Keycloak without Docker: the server docker/compose.yml runs (same version), from Maven Central's
# distribution, with the repository's realm (docker/keycloak/streamlit-realm.json). DEVELOPMENT ONLY.
#
#   scripts/keycloak.sh                 Keycloak at http://localhost:8080, admin console at /admin
#   scripts/keycloak.sh --port 0        the same on free ports (printed once it is ready)
#   scripts/run.sh --keycloak           the demo app signing in against it (starts it if needed)
#
# Options:
#   --port N                 HTTP port (default 8080; 0 picks a free one). Keycloak binds 127.0.0.1.
#   --management-port N      port of /health/ready and the other health endpoints (default 9000; 0: free)
#   --app-url URL            where the browser reaches the app (default http://localhost:8501): the
#                            realm's redirect and post-logout URIs are moved there
#   --backchannel-app-url U  where Keycloak POSTs back-channel logout tokens to the app (default:
#                            --app-url on 127.0.0.1, which is where the app listens)
#   --install-dir DIR        unpack the server into DIR (default .cache/keycloak/dev; the tests use
#                            .cache/keycloak/tests, so both can run at once)
#   --fetch                  only fetch and unpack it, then print the server's directory
#   --print-version          print the pinned version (a test checks it equals compose.yml's image tag)
#
# Restarts and realm changes: the database lives in memory (--db=dev-mem), so every start imports
# the realm file afresh (edits apply at the next start), and whatever was changed in the admin
# console, and every Keycloak session, is gone when it stops. Stop it with Ctrl-C.
#
# It needs Java (Keycloak 26 supports OpenJDK 17, 21 and 25; the first found of 21, 17, 25 is used,
# or KEYCLOAK_JAVA_HOME) and Maven, which fetches the distribution once into ~/.m2. Either one
# missing is installed from Debian's packages, as scripts/test.sh does for chromium.
# KEYCLOAK_START_TIMEOUT (seconds, default 300) bounds the wait for /health/ready.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/debian.sh
source scripts/debian.sh

# The one pinned version: tests/unit/test_docker_files.py checks it equals docker/compose.yml's image tag.
KEYCLOAK_VERSION=26.4.7
# Temporary admin of the master realm, as in docker/compose.yml (created at the first start only).
ADMIN_USER=admin
ADMIN_PASSWORD=admin
START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-300}"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

port=8080
management_port=9000
app_url=http://localhost:8501
backchannel_app_url=
install_dir=.cache/keycloak/dev
action=start
while [ "$#" -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --management-port) management_port="$2"; shift 2 ;;
    --app-url) app_url="$2"; shift 2 ;;
    --backchannel-app-url) backchannel_app_url="$2"; shift 2 ;;
    --install-dir) install_dir="$2"; shift 2 ;;
    --fetch) action=fetch; shift ;;
    --print-version) echo "$KEYCLOAK_VERSION"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scripts/keycloak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
server="$install_dir/keycloak-$KEYCLOAK_VERSION"

java_major() {  # <java home>: the feature release, e.g. 17 for 'openjdk version "17.0.15"'
  "$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p'
}

pick_java_home() {
  if [ -n "${KEYCLOAK_JAVA_HOME:-}" ]; then
    echo "$KEYCLOAK_JAVA_HOME"
    return
  fi
  local candidates=() wanted candidate
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  candidates+=(/usr/lib/jvm/*)
  # 21 first: the release Keycloak's getting-started guide names. 17 and 25 both start 26.4.7
  # here; 25 prints JDK warnings about netty's use of sun.misc.Unsafe, so 17 comes before it.
  for wanted in 21 17 25; do
    for candidate in "${candidates[@]}"; do
      if [ -x "$candidate/bin/java" ] && [ "$(java_major "$candidate")" = "$wanted" ]; then
        echo "$candidate"
        return
      fi
    done
  done
  return 1
}

ensure_java() {
  if ! JAVA_HOME="$(pick_java_home)"; then
    apt_install default-jre-headless "Keycloak (it needs Java 17, 21 or 25)"
    JAVA_HOME="$(pick_java_home)" || {
      echo "scripts/keycloak.sh: no Java 17, 21 or 25 found; set KEYCLOAK_JAVA_HOME" >&2
      exit 1
    }
  fi
  export JAVA_HOME
}

fetch() {
  if [ -x "$server/bin/kc.sh" ]; then
    return
  fi
  install_debian_package mvn maven "fetching Keycloak from Maven Central"
  mkdir -p "$install_dir"
  local download
  download="$(mktemp -d "$install_dir/download.XXXXXX")"
  echo "Fetching Keycloak $KEYCLOAK_VERSION from Maven Central (about 160 MB, kept in ~/.m2)..." >&2
  mvn -B -q -Dstyle.color=never dependency:copy "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
    "-DoutputDirectory=$download" >&2  # its messages (and Debian's mvn's stray colour codes) off stdout
  # Python's zipfile rather than unzip, which may not be installed; it drops the mode bits.
  python3 -m zipfile -e "$download/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" "$download"
  chmod +x "$download/keycloak-$KEYCLOAK_VERSION"/bin/*.sh
  # Moved into place whole, so an interrupted fetch never leaves a half-unpacked server behind.
  mv "$download/keycloak-$KEYCLOAK_VERSION" "$server"
  rm -rf "$download"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port_taken() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The same probe as docker/compose.yml's healthcheck (bash's /dev/tcp, no curl needed).
ready() {
  timeout 5 bash -c "{ printf 'HEAD /health/ready HTTP/1.0\r\n\r\n' >&0; grep -q 'HTTP/1.0 200'; } 0<>/dev/tcp/127.0.0.1/$management_port" \
    2>/dev/null
}

ensure_java
fetch
if [ "$action" = fetch ]; then
  echo "$server"
  exit 0
fi

[ "$port" = 0 ] && port="$(free_port)"
[ "$management_port" = 0 ] && management_port="$(free_port)"
for taken in "$port" "$management_port"; do
  if port_taken "$taken"; then
    echo "scripts/keycloak.sh: port $taken on 127.0.0.1 is in use (another Keycloak?); --port 0 and --management-port 0 pick free ones" >&2
    exit 1
  fi
done
if [ -z "$backchannel_app_url" ]; then
  backchannel_app_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(netloc="127.0.0.1" + (f":{p.port}" if p.port else "")).geturl())' "$app_url")"
fi

# The repository's realm with only the app's URLs moved (scripts/keycloak_realm.py, as in the tests).
rm -f "$server"/data/import/*.json
python3 scripts/keycloak_realm.py import-file --app-url "$app_url" --backchannel-app-url "$backchannel_app_url" \
  "$server/data/import" >/dev/null

started=$SECONDS
KC_BOOTSTRAP_ADMIN_USERNAME="$ADMIN_USER" KC_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$server/bin/kc.sh" start-dev --import-realm --db=dev-mem --health-enabled=true \
  --http-host=127.0.0.1 --http-port="$port" --http-management-port="$management_port" \
  --hostname="http://localhost:$port" &
keycloak=$!
stop() {
  # kc.sh runs a build JVM first when the build options change, then execs the server's JVM.
  pkill -TERM -P "$keycloak" 2>/dev/null || true
  kill -TERM "$keycloak" 2>/dev/null || true
  wait "$keycloak" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

until ready; do
  if ! kill -0 "$keycloak" 2>/dev/null; then
    echo "scripts/keycloak.sh: Keycloak exited before it was ready (its log is above)" >&2
    exit 1
  fi
  if [ $((SECONDS - started)) -ge "$START_TIMEOUT" ]; then
    echo "scripts/keycloak.sh: Keycloak was not ready within $START_TIMEOUT s" >&2
    exit 1
  fi
  sleep 0.5  # readiness poll of a starting server
done

realm="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["realm"])' docker/keycloak/streamlit-realm.json)"
cat <<EOF

  Keycloak $KEYCLOAK_VERSION is ready after $((SECONDS - started)) s (Java $(java_major "$JAVA_HOME"), $JAVA_HOME). DEVELOPMENT ONLY.
  Realm '$realm' (issuer):  http://localhost:$port/realms/$realm
  Admin console:            http://localhost:$port/admin   user '$ADMIN_USER', password '$ADMIN_PASSWORD'
  Readiness:                http://127.0.0.1:$management_port/health/ready
  The realm expects the app at $app_url (back-channel logout: $backchannel_app_url/auth/backchannel-logout).

  Demo users (docker/keycloak/streamlit-realm.json):
$(python3 scripts/keycloak_realm.py users | sed 's/^/    /')

  Run the demo against it: scripts/run.sh --keycloak     Stop Keycloak: Ctrl-C
  A restart imports the realm file afresh; changes made in the admin console are not kept.

EOF
wait "$keycloak"
