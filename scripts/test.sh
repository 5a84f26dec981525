#!/usr/bin/env bash
# Sets up (if needed) and runs every test: unit and integration (jest), the
# Python tests (pytest, test/python/test_*.py), then the UI tests (Galata in
# Debian's Chromium). Reports and screenshots land in test-artifacts/ (coverage
# of src/ by jest in test-artifacts/coverage/); the last line counts every test
# of the three runners.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" --test
export PATH="$ROOT/.venv/bin:$PATH"
# A checkout keeps its models in models/cache (an installed package: <jupyter data dir>/datarus/models).
export DATARUS_MODELS_DIR="${DATARUS_MODELS_DIR:-$ROOT/models/cache}"
cd "$ROOT"
rm -rf test-artifacts && mkdir -p test-artifacts
npx jest --ci --coverage --json --outputFile=test-artifacts/jest.json || true
python -m pytest test/python -q --junitxml=test-artifacts/pytest.xml || true
(cd ui-tests && npx playwright test) || true
node scripts/summary.js
