#!/usr/bin/env bash
# Sets up (if needed) and starts JupyterLab with Datarus Lab and the starter
# model. JupyterLab prints its URL; Ctrl-C stops JupyterLab and the model host.
#   DATARUS_MODEL=<manifest name or .gguf>   another model from models/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
export PATH="$ROOT/.venv/bin:$PATH"
# A checkout keeps its models in models/cache (an installed package: <jupyter data dir>/datarus/models).
export DATARUS_MODELS_DIR="${DATARUS_MODELS_DIR:-$ROOT/models/cache}"
export DATARUS_MODEL="${DATARUS_MODEL:-qwen2.5-coder-1.5b}"
args=(--ServerApp.ip=127.0.0.1 --ServerApp.open_browser=False --ServerApp.answer_yes=True)
[ "$(id -u)" = 0 ] && args+=(--ServerApp.allow_root=True)
mkdir -p "$ROOT/notebooks"
cd "$ROOT/notebooks"
echo "Starting JupyterLab with Datarus Lab (model: $DATARUS_MODEL). Press Ctrl-C to stop."
exec jupyter lab "${args[@]}" "$@"
