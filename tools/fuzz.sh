#!/usr/bin/env bash
# Bounded fuzzing of every decoder with libFuzzer + ASan + UBSan (clang from Debian).
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
# Builds build-fuzz/ (override with MESHQ_FUZZ_BUILD_DIR), fuzzes each target from a copy of its
# committed seed corpus, and prints executions per target. A crash is copied into
# tests/fuzz/corpus/<target>/ (the corpus replay test then reproduces it: fix, then commit it).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
BUILD=${MESHQ_FUZZ_BUILD_DIR:-build-fuzz}

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMESHQ_FUZZ=ON -DMESHQ_SANITIZE=address,undefined -DMESHQ_WERROR=OFF \
  -DMESHQ_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
available=()
for t in "${targets[@]}"; do
  if cmake --build "$BUILD" --target "fuzz_$t" -j "${MESHQ_JOBS:-2}" >"$BUILD/build-$t.log" 2>&1; then
    available+=("$t")
  else
    echo "fuzz: fuzz_$t does not build (module off or mid-change); see $BUILD/build-$t.log" >&2
  fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
summary=()
for t in "${available[@]}"; do
  work="$BUILD/corpus/$t"
  artifacts="$BUILD/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log="$BUILD/fuzz-$t.log"
  set +e
  "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  units=$(ls "$work" | wc -l)
  if ((rc != 0)); then
    failed=1
    for a in "$artifacts"*; do
      [[ -f $a ]] || continue
      cp "$a" "tests/fuzz/corpus/$t/regression-$(basename "$a")"
      echo "fuzz: $t: crash input saved as tests/fuzz/corpus/$t/regression-$(basename "$a")" >&2
    done
    grep -m5 -E 'ERROR|invariant|runtime error' "$log" >&2 || true
    summary+=("$(printf '%-14s %6ss %12s execs %6s corpus  CRASH (see %s)' "$t" "$SECONDS_PER_TARGET" "${execs:-?}" "$units" "$log")")
  else
    summary+=("$(printf '%-14s %6ss %12s execs %6s corpus  ok' "$t" "$SECONDS_PER_TARGET" "${execs:-?}" "$units")")
  fi
done
echo "fuzz summary (clang $(clang --version | head -1 | grep -o '[0-9][0-9.]*' | head -1), -fsanitize=fuzzer,address,undefined):"
printf '  %s\n' "${summary[@]}"
exit $failed
