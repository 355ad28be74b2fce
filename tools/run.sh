#!/usr/bin/env bash
# Sets up (packages + build) and runs the main job: the three-phase benchmark at its default
# scale, beside the disk's own limits. Arguments are passed to meshq-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec "${MESHQ_BUILD_DIR:-build}/bench/meshq-bench" --profile default --limits "$@"
