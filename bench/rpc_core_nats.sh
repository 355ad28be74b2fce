#!/bin/bash
# meshq-broker beside core NATS (nothing stored, one nats-server), interleaved: the baseline of
# issue 18's "≥ 1.0× core NATS's calls/s and ≤ 1.0× its server CPU per call at every shape".
# meshq runs meshq-rpc-bench at --durability stored (nothing waits for the disk, as nothing does
# in core NATS) without its PING phase, so the broker's CPU is the calls' alone; core NATS runs
# meshq-nats-core-bench with the same shape. A shape is CONCURRENCY/CLIENTS/RESPONDERS; with more
# than one client each call starts unbatched (--independent 1), like separate callers.
# Each round runs every shape on both, the order of the two swapped every round; each run gets a
# fresh server. One line per run (calls/s, call p50/p99 µs, the server's user+system CPU ms per
# 1000 calls from /proc, the load average), then the medians per shape and backend. Each round
# starts with the machine's own limit: the bare loopback TCP round trip (bench/mesh/loopback_rtt).
# usage: bench/rpc_core_nats.sh BUILD_DIR ROUNDS CALLS ["SHAPES"]   (default "1/1/1 16/1/1 128/1/1 50/50/2")
set -u
build=$1 rounds=$2 calls=$3
shapes=${4:-"1/1/1 16/1/1 128/1/1 50/50/2"}
cd "$(dirname "$0")/.."
bench=$build/bridge/meshq-rpc-bench
core=$build/bridge/meshq-nats-core-bench
broker=$build/bridge/meshq-broker
rtt=$build/bench/mesh/loopback_rtt
for b in "$bench" "$core" "$broker" "$rtt"; do
  [ -x "$b" ] || { echo "rpc_core_nats.sh: $b is not built" >&2; exit 2; }
done
command -v nats-server > /dev/null || { echo "rpc_core_nats.sh: no nats-server (tools/setup.sh)" >&2; exit 2; }
work=$(mktemp -d /tmp/meshq-rpc-core-nats-XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {  # $1: meshq | nats; sets server_pid and target
  if [ "$1" = meshq ]; then
    "$broker" --dir "$work/store" --port 0 > "$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
    target=(--broker "127.0.0.1:$(grep "listening on" "$work/server.out" | sed 's/.*://')")
  else
    local port
    port=$(free_port)
    nats-server -a 127.0.0.1 -p "$port" > "$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do grep -q "Server is ready" "$work/server.out" && break; sleep 0.05; done
    target=(--url "nats://127.0.0.1:$port")
  fi
}
stop_server() {
  kill "$server_pid" 2> /dev/null
  wait "$server_pid" 2> /dev/null
  server_pid=
  rm -rf "$work/store"
}

out=$work/runs
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="meshq nats"; else order="nats meshq"; fi
  echo "$r limit $("$rtt" --connections 1 --seconds 1 | tr '\n' ' ')load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
  for shape in $shapes; do
    IFS=/ read -r conc clients responders <<< "$shape"
    indep=0
    [ "$clients" -gt 1 ] && indep=1
    for v in $order; do
      start_server "$v"
      t0=$(ticks "$server_pid")
      if [ "$v" = meshq ]; then
        res=$("$bench" "${target[@]}" --durability stored --ping 0 --calls "$calls" \
          --concurrency "$conc" --clients "$clients" --responders "$responders" \
          --independent "$indep" 2>&1)
      else
        res=$("$core" "${target[@]}" --calls "$calls" --concurrency "$conc" --clients "$clients" \
          --responders "$responders" 2>&1)
      fi
      t1=$(ticks "$server_pid")
      stop_server
      line=$(echo "$res" | grep "^RPC call")
      failed=$(echo "$res" | grep "^failed calls" | sed 's/.*: //')
      field() { echo "$line" | sed "s/.* $1=\([0-9.]*\).*/\1/"; }
      cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$calls" 'BEGIN { printf "%.1f", t * 1000 / hz / n * 1000 }')
      echo "$r $v shape=$shape calls/s=$(field rate) p50_us=$(field p50) p99_us=$(field p99)" \
        "server_cpu_ms_per_1000=$cpu failed=${failed:-?} load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    done
  done
done
echo "medians over $rounds rounds, $calls calls a run (loopback round trip p50 $(grep " limit " "$out" |
  sed 's#.*p50_us=\([0-9.]*\).*#\1#' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') us):"
for shape in $shapes; do
  for v in meshq nats; do
    med() {
      grep " $v shape=$shape " "$out" | sed "s#.* $1=\([0-9.]*\).*#\1#" | sort -g |
        awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
    }
    echo "shape=$shape $v calls/s=$(med calls/s) p50_us=$(med p50_us) p99_us=$(med p99_us)" \
      "server_cpu_ms_per_1000=$(med server_cpu_ms_per_1000)"
  done
done
