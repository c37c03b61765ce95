#!/usr/bin/env bash
# berth's main job, from a fresh machine: set up, load a busybox image, run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
berth() { node packages/engine/dist/berth.cjs "$@"; }
berth version
# A dedicated store, so the demo never touches /var/lib/berth.
export BERTH_ROOT=${BERTH_ROOT:-/tmp/berth-demo/root} BERTH_STATE=${BERTH_STATE:-/tmp/berth-demo/state}
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
node --import tsx tools/fixtures/build.ts "$fixtures" busybox >/dev/null
berth load -i "$fixtures/busybox-docker.tar"
berth run --rm busybox echo hello from berth
berth info
