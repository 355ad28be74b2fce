#!/usr/bin/env bash
# Soak: steady RPC load through one meshq-broker on loopback for DURATION seconds, sampling
# every --every seconds the store's allocated bytes (du: st_blocks of the store directory), the
# broker's RSS (/proc/PID/status) and the engine's index bytes (the broker's STATS), then a
# verdict: after the warm-up, is each of the three flat within ±--tolerance percent? Also prints
# each one's growth per million calls over the run after the warm-up.
#
#   bench/soak.sh DURATION [--concurrency N] [--rate CALLS_PER_S] [--every S] [--warmup S]
#                 [--tolerance PCT]
#                 [--csv FILE] [--keep] [-- meshq-broker flags, e.g. --retention-ms 30000]
#
# Binaries come from ${MESHQ_BUILD_DIR:-build}; the store goes under ${MESHQ_SOAK_DIR:-/tmp}.
# The broker and the bench are stopped by their pids on exit, failure or Ctrl-C. Exit 0 when
# all three are flat, 1 when one is not, 2 on a failure to run.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
DURATION=$1
shift
CONCURRENCY=128
RATE=0
EVERY=10
WARMUP=60
TOLERANCE=10
CSV=""
KEEP=0
BROKER_FLAGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --tolerance) TOLERANCE=$2; shift 2 ;;
    --csv) CSV=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --) shift; BROKER_FLAGS=("$@"); break ;;
    *) usage ;;
  esac
done

BUILD=${MESHQ_BUILD_DIR:-build}
BROKER=$BUILD/bridge/meshq-broker
BENCH=$BUILD/bridge/meshq-rpc-bench
for b in "$BROKER" "$BENCH"; do
  [[ -x $b ]] || { echo "soak.sh: $b not built" >&2; exit 2; }
done

WORK=$(mktemp -d "${MESHQ_SOAK_DIR:-/tmp}/meshq-soak-XXXXXX")
STORE=$WORK/store
BROKER_PID=""
BENCH_PID=""
# shellcheck disable=SC2317  # reached through the EXIT trap
stop_pid() {  # TERM, a bounded wait, then KILL
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
  stop_pid "$BENCH_PID"
  stop_pid "$BROKER_PID"
  if ((KEEP)); then echo "soak.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BROKER" --dir "$STORE" --port 0 "${BROKER_FLAGS[@]}" >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  grep -q "^listening on " "$WORK/broker.out" 2>/dev/null && break
  sleep 0.05
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/broker.out" | head -1)
[[ -n $ADDR ]] || { echo "soak.sh: broker did not start" >&2; cat "$WORK/broker.err" >&2; exit 2; }

echo "soak: ${DURATION} s, ${CONCURRENCY} in flight, rate limit ${RATE}/s (0: none), broker $ADDR pid $BROKER_PID" \
  "flags: ${BROKER_FLAGS[*]:-(none)}"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)  cpus: $(nproc)" \
  " load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

FIFO=$WORK/progress
mkfifo "$FIFO"
"$BENCH" --broker "$ADDR" --concurrency "$CONCURRENCY" --rate "$RATE" --duration "$DURATION" \
  --progress "$EVERY" >"$FIFO" 2>"$WORK/bench.err" &
BENCH_PID=$!

ROWS=$WORK/rows.csv
# After the three judged ones, what explains them: the segments' own allocated and live bytes
# (engine), the metadata database's files (RocksDB: its log grows until a memtable is flushed),
# then the retention's work: blocks the index holds, group commits (each seals a block per queue
# written, so their rate sets what a time-based retention keeps), blocks released, and waiting
# for the next Flush to release, bytes punched out, queues found in the catalogue.
HEADER="t_s,calls,failed,rate,p99_us,store_alloc_bytes,broker_rss_bytes,index_bytes,segment_bytes,queues,messages,trimmed_messages,segment_alloc_bytes,live_bytes,meta_alloc_bytes,dedupe_ids"
HEADER+=",blocks,commit_rounds,released_blocks,pending_release_blocks,punched_bytes,discovered_queues"
echo "$HEADER" >"$ROWS"
field() {  # field NAME LINE: the value of NAME=... in a progress line (0 when absent)
  local v
  v=$(grep -o " $1=[0-9.]*" <<<"$2" | head -1 | cut -d= -f2)
  echo "${v:-0}"
}
COLUMNS_FMT='%8s %12s %9s %8s %14s %14s %12s %9s %9s %9s %14s\n'
# shellcheck disable=SC2059
printf "$COLUMNS_FMT" t_s calls rate p99_us store_alloc broker_rss index_bytes blocks commits/s \
  pend_rel punched_bytes
LAST_T=0
LAST_COMMITS=0
while IFS= read -r line; do
  case $line in
    progress*)
      alloc=$(du -sB1 "$STORE" | cut -f1)
      rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
      row="$(field t "$line"),$(field calls "$line"),$(field failed "$line"),$(field rate "$line")"
      row+=",$(field p99_us "$line"),$alloc,$rss,$(field index_bytes "$line")"
      row+=",$(field segment_bytes "$line"),$(field queues "$line"),$(field messages "$line")"
      row+=",$(field trimmed_messages "$line"),$(field allocated_bytes "$line")"
      row+=",$(field live_bytes "$line"),$(du -sB1 "$STORE/meta" 2>/dev/null | cut -f1)"
      row+=",$(field dedupe_ids "$line")"
      blocks=$(field blocks "$line")
      commits=$(field commit_rounds "$line")
      pending=$(field pending_release_blocks "$line")
      punched=$(field punched_bytes "$line")
      row+=",$blocks,$commits,$(field released_blocks "$line"),$pending,$punched"
      row+=",$(field discovered_queues "$line")"
      echo "$row" >>"$ROWS"
      IFS=, read -r t calls _ rate p99 _ _ index _ <<<"$row"
      commit_rate=$(awk -v c="$commits" -v lc="$LAST_COMMITS" -v t="$t" -v lt="$LAST_T" \
        'BEGIN { printf "%.0f", (t > lt) ? (c - lc) / (t - lt) : 0 }')
      LAST_T=$t
      LAST_COMMITS=$commits
      # shellcheck disable=SC2059
      printf "$COLUMNS_FMT" "$t" "$calls" "$rate" "$p99" "$alloc" "$rss" "$index" "$blocks" \
        "$commit_rate" "$pending" "$punched"
      ;;
    *) echo "$line" ;;
  esac
done <"$FIFO"
VERDICT=0
BENCH_STATUS=0
wait "$BENCH_PID" || BENCH_STATUS=$?
BENCH_PID=""
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n $CSV ]] && cp "$ROWS" "$CSV"
if ((BENCH_STATUS != 0)); then
  echo "soak.sh: meshq-rpc-bench exited $BENCH_STATUS" >&2
  cat "$WORK/bench.err" >&2
fi

# Verdict over the samples from the warm-up on: each metric's spread around the first of them,
# and its growth per million calls from that sample to the last.
awk -F, -v warmup="$WARMUP" -v tol="$TOLERANCE" '
  NR == 1 { next }
  $1 + 0 >= warmup {
    n++
    if (n == 1) { c0 = $2; for (i = 6; i <= 8; i++) { ref[i] = $i; lo[i] = $i; hi[i] = $i } }
    for (i = 6; i <= 8; i++) { if ($i < lo[i]) lo[i] = $i; if ($i > hi[i]) hi[i] = $i; last[i] = $i }
    c1 = $2; t1 = $1
  }
  END {
    if (n < 2) { print "verdict: too few samples after the warm-up"; exit 2 }
    name[6] = "store allocated bytes"; name[7] = "broker RSS"; name[8] = "engine index bytes"
    flat = 1
    printf "after the first %d s (%d samples, %.0f calls, to t=%s s):\n", warmup, n, c1 - c0, t1
    for (i = 6; i <= 8; i++) {
      up = ref[i] > 0 ? 100 * (hi[i] - ref[i]) / ref[i] : 0
      down = ref[i] > 0 ? 100 * (ref[i] - lo[i]) / ref[i] : 0
      per_m = c1 > c0 ? (last[i] - ref[i]) / ((c1 - c0) / 1e6) : 0
      ok = up <= tol && down <= tol
      if (!ok) flat = 0
      printf "  %-22s %15.0f -> %15.0f  min %.0f max %.0f  range -%.1f%% +%.1f%%  growth %.0f bytes per million calls  %s\n",
             name[i], ref[i], last[i], lo[i], hi[i], down, up, per_m, ok ? "flat" : "NOT FLAT"
    }
    print (flat ? "verdict: flat within " tol "%" : "verdict: NOT flat within " tol "%")
    exit flat ? 0 : 1
  }' "$ROWS" || VERDICT=$?
# A bench that did not finish cleanly is a failure to run, whatever the samples say.
((BENCH_STATUS == 0)) || exit 2
exit "${VERDICT:-0}"
