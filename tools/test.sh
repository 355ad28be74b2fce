#!/usr/bin/env bash
# Sets up (packages + build) and runs every test with ctest. This is the README's test command
# and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
ctest --test-dir "${MESHQ_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" --timeout 600
