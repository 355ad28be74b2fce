#!/usr/bin/env bash
# Long crash torture: a writer child is SIGKILLed at random moments and the store re-verified,
# iteration after iteration (see tests/reliability/crash_torture.cc).
#   tools/torture.sh [SECONDS] [extra torture flags, e.g. --seed 7 --queues 200 --threads 8,
#                    --direct-io on|mixed for StoreOptions::direct_io (mixed: every other run)]
# Builds into $MESHQ_BUILD_DIR (default build-rel); prints the iterations survived.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-600}
shift || true
BUILD=${MESHQ_BUILD_DIR:-build-rel}
if [[ ! -f $BUILD/build.ninja ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESHQ_BUILD_BENCH=OFF \
    -DMESHQ_BUILD_BRIDGE=OFF -DMESHQ_BUILD_AGENT=OFF >/dev/null
fi
cmake --build "$BUILD" --target reliability_crash_torture -j "${MESHQ_JOBS:-2}" >/dev/null
exec "$BUILD/tests/reliability/reliability_crash_torture" --seconds "$SECONDS_TOTAL" \
  --iterations 100000000 --seed "${MESHQ_TORTURE_SEED:-$(date +%s)}" "$@"
