#!/usr/bin/env bash
# The whole test suite: set up (idempotent), then run every test file. The last line printed
# is `N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec node tools/test/run.mjs "$@"
