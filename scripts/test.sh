#!/usr/bin/env bash
# README command 2: set up everything, then lint, type-check and run every test.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LPMOS_ROOT"
npm run --silent lint
npm run --silent typecheck
npm test
