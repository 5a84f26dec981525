#!/usr/bin/env bash
# Sets up (if needed) and runs every test: unit and integration (jest), then
# the UI tests (Galata in Debian's Chromium). Screenshots land in test-artifacts/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" --test
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"
mkdir -p test-artifacts
status=0
npx jest --ci || status=$?
(cd ui-tests && npx playwright test) || status=$?
exit $status
