#!/bin/bash
# Interleaved A/B of two meshq-broker binaries under meshq-rpc-bench: each round runs A and B on
# fresh stores (order swapped every other round), B with the extra broker flags given; when B
# serves metrics (--metrics-port) it is scraped every second during its run. One line per run:
# calls/s, call p50/p99, the bare PING p50 (the loopback limit of that run), the broker's CPU
# (user+system, from /proc) per call, and the load average.
# Each line also gives the calls that failed: a run with failures measured something else (e.g.
# the dedupe window's refusals past `--dedupe-window / --dedupe-min-age-ms` new ids a second,
# 26k/s at the defaults: raise it for long fast runs with AB_BROKER_FLAGS).
# usage: bench/rpc_ab.sh A_BROKER B_BROKER RPC_BENCH ROUNDS CALLS CONCURRENCY DURABILITY [B flags]
# AB_BROKER_FLAGS: broker flags for both A and B, e.g. AB_BROKER_FLAGS="--dedupe-window 4194304".
# B_BENCH_FLAGS: extra meshq-rpc-bench flags for B's runs, e.g. TLS against a TLS broker:
#   d=$(mktemp -d); tools/certs.sh $d
#   B_BENCH_FLAGS="--tls-ca $d/ca.pem --tls-cert $d/alice.pem --tls-key $d/alice-key.pem" \
#     bench/rpc_ab.sh build/bridge/meshq-broker build/bridge/meshq-broker \
#     build/bridge/meshq-rpc-bench 5 20000 16 written \
#     --tls-cert $d/broker.pem --tls-key $d/broker-key.pem --tls-client-ca $d/ca.pem
set -u
a=$1 b=$2 bench=$3 rounds=$4 calls=$5 conc=$6 dur=$7
shift 7
tick_us=$((1000000 / $(getconf CLK_TCK)))
for r in $(seq 1 "$rounds"); do
  order="A B"
  [ $((r % 2)) -eq 0 ] && order="B A"
  for v in $order; do
    dir=$(mktemp -d /tmp/meshq-rpc-ab-XXXXXX)
    if [ "$v" = A ]; then
      # shellcheck disable=SC2086
      "$a" --dir "$dir/s" --port 0 ${AB_BROKER_FLAGS:-} > "$dir/out" 2>&1 &
    else
      # shellcheck disable=SC2086
      "$b" --dir "$dir/s" --port 0 ${AB_BROKER_FLAGS:-} "$@" > "$dir/out" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$dir/out" && break; sleep 0.1; done
    port=$(grep "listening on" "$dir/out" | sed 's/.*://')
    mport=$(grep "metrics on" "$dir/out" | sed 's/.*://')
    scraper=
    if [ -n "$mport" ]; then
      (while sleep 1; do curl -s "127.0.0.1:$mport/metrics" > /dev/null; done) &
      scraper=$!
    fi
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    extra=()
    [ "$v" = B ] && read -r -a extra <<< "${B_BENCH_FLAGS:-}"
    res=$("$bench" --broker "127.0.0.1:$port" --calls "$calls" --concurrency "$conc" \
      --independent 1 --durability "$dur" "${extra[@]}" 2>&1)
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    [ -n "$scraper" ] && kill "$scraper"
    kill "$pid"
    wait "$pid" 2> /dev/null
    field() { echo "$res" | grep "^$1" | sed "s/.* $2=\([0-9.]*\).*/\1/"; }
    echo "$r $v calls/s=$(field 'RPC call' rate) p50_us=$(field 'RPC call' p50)" \
      "p99_us=$(field 'RPC call' p99) ping_p50_us=$(field 'broker PING' p50)" \
      "broker_cpu_us_per_call=$(echo "scale=2; ($t1 - $t0) * $tick_us / $calls" | bc)" \
      "failed=$(echo "$res" | grep "^failed calls" | sed 's/.*: //')" \
      "load=$(cut -d' ' -f1 /proc/loadavg)"
    rm -rf "$dir"
  done
done
