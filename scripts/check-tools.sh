#!/usr/bin/env bash
# Checks the tools the set-up needs and says exactly what to install when one is missing.

die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "'$*' needs root: run it as root or install sudo"
  fi
}

check_tools() {
  command -v python3 >/dev/null \
    || die "Python 3.10 or newer is needed and python3 was not found on PATH (Debian: apt-get install python3 python3-venv)"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "Python 3.10 or newer is needed; python3 is $(python3 -V 2>&1)"
  python3 -c 'import venv, ensurepip' 2>/dev/null \
    || die "python3 cannot create virtual environments (Debian: apt-get install python3-venv)"
  command -v node >/dev/null \
    || die "Node.js 20 or newer is needed and node was not found on PATH (see https://nodejs.org or your package manager)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "Node.js 20 or newer is needed; node is $(node --version)"
  command -v npm >/dev/null || die "npm was not found on PATH; it comes with Node.js"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  check_tools
  echo "tools ok: $(python3 -V), node $(node --version), npm $(npm --version)"
fi
