# Sourced by scripts/test.sh and scripts/keycloak.sh: install Debian packages the tests and the
# local Keycloak run for real. They never skip a missing program: they install it, or stop.

apt_install() {  # <package> <why>
  echo "Installing Debian's $1 for $2..." >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "$1 is missing and cannot be installed without root: apt-get install $1" >&2
    exit 1
  fi
}

install_debian_package() {  # <command> <package> <why>: only when <command> is missing
  if ! command -v "$1" >/dev/null 2>&1; then
    apt_install "$2" "$3"
  fi
}
