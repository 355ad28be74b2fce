#!/bin/bash
# meshq-rpc-bench side by side over the request-reply backends, interleaved: meshq-broker
# (fresh store, durability written), NATS JetStream with R1 streams and with R3 streams (two
# 3-node loopback clusters from tools/nats.sh, both up for the whole run), at each concurrency.
# Each round runs every backend at every concurrency (the backends' order rotated per round).
# One line per run: calls/s, call p50/p99, the broker's PING p50 (the loopback floor, meshq runs
# only) and the servers' CPU (user+system, /proc; the three nodes of a cluster summed) per 1000
# calls, with the load average.
# usage: bench/rpc_backends.sh BUILD_DIR ROUNDS CALLS "CONCURRENCIES" [meshq-rpc-bench flags]
set -u
build=$1 rounds=$2 calls=$3 concs=$4
shift 4
cd "$(dirname "$0")/.."
bench=$build/bridge/meshq-rpc-bench
broker=$build/bridge/meshq-broker
work=$(mktemp -d /tmp/meshq-rpc-backends-XXXXXX)
cleanup() {
  tools/nats.sh stop "$work/r1" > /dev/null 2>&1
  tools/nats.sh stop "$work/r3" > /dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
r1=$(tools/nats.sh start "$work/r1" "${MESHQ_NATS_R1_PORT:-15222}")"?replicas=1"
r3=$(tools/nats.sh start "$work/r3" "${MESHQ_NATS_R3_PORT:-16222}")"?replicas=3"
ticks() {  # user+system ticks of the given pids
  local t=0 p
  for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
backends=(meshq nats-r1 nats-r3)
for r in $(seq 1 "$rounds"); do
  for i in 0 1 2; do
    v=${backends[$(((i + r) % 3))]}
    for c in $concs; do
      case $v in
        meshq)
          dir="$work/broker-$r-$c"
          "$broker" --dir "$dir" --port 0 > "$work/broker.out" 2>&1 &
          pids=$!
          for _ in $(seq 100); do grep -q "listening on" "$work/broker.out" && break; sleep 0.1; done
          target=(--broker "127.0.0.1:$(grep "listening on" "$work/broker.out" | sed 's/.*://')"
                  --durability written)
          ;;
        nats-r1) pids=$(cat "$work"/r1/n{1,2,3}.pid); target=(--mq-url "$r1") ;;
        nats-r3) pids=$(cat "$work"/r3/n{1,2,3}.pid); target=(--mq-url "$r3") ;;
      esac
      # shellcheck disable=SC2086
      t0=$(ticks $pids)
      res=$("$bench" "${target[@]}" --calls "$calls" --concurrency "$c" "$@" 2>&1)
      # shellcheck disable=SC2086
      t1=$(ticks $pids)
      if [ "$v" = meshq ]; then
        kill "$pids"
        wait "$pids" 2> /dev/null
        rm -rf "$dir"
      fi
      field() { echo "$res" | grep "^$1" | sed "s/.* $2=\([0-9.]*\).*/\1/"; }
      echo "$r $v c=$c calls/s=$(field 'RPC call' rate) p50_us=$(field 'RPC call' p50)" \
        "p99_us=$(field 'RPC call' p99) ping_p50_us=$(field 'broker PING' p50)" \
        "server_cpu_ms_per_1000=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$calls" \
          'BEGIN { printf "%.1f", d / hz * 1000 / n * 1000 }')" \
        "failed=$(echo "$res" | sed -n 's/^failed calls: //p') load=$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
