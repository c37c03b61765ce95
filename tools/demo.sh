#!/usr/bin/env bash
# berth's main job, from a fresh machine: set up, then show what berth sees.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
berth() { node packages/engine/dist/berth.cjs "$@"; }
berth version
berth info
