#!/usr/bin/env bash
# A 3-node NATS JetStream cluster on loopback, from Debian's nats-server, for the bridge's NATS
# backend (docs/nats-backend.md), its tests and benchmarks. Every node has its own client,
# cluster and monitor port, server_name and store_dir; it is stopped by its pid.
#
#   tools/nats.sh start [DIR] [BASE_PORT]   start n1..n3 (clients BASE..BASE+2, routes BASE+10..,
#                                           monitors BASE+20..) and wait until JetStream is up;
#                                           prints the --mq-url
#   tools/nats.sh stop [DIR]                stop every node (SIGTERM, then SIGKILL) by its pid
#   tools/nats.sh kill-node DIR N [SIGNAL]  send SIGNAL (KILL) to node N and wait for its exit
#   tools/nats.sh start-node DIR N          start node N again (same ports and store)
#   tools/nats.sh url [DIR]                 print the --mq-url
# DIR defaults to /tmp/meshq-nats, BASE_PORT to 4222. A DIR remembers its BASE_PORT.
# Exit status 3 from start / start-node: a node could not bind one of its ports (taken by another
# program); the caller may stop the cluster and start it on other ports.
set -euo pipefail

cmd=${1:-}
dir=${2:-/tmp/meshq-nats}
NATS_SERVER=${NATS_SERVER:-nats-server}

base_port() {
  if [[ -f $dir/base_port ]]; then cat "$dir/base_port"; else echo 4222; fi
}

url() {
  local b
  b=$(base_port)
  echo "nats://127.0.0.1:$b,127.0.0.1:$((b + 1)),127.0.0.1:$((b + 2))"
}

write_config() {  # node index 1..3
  local n=$1 b
  b=$(base_port)
  local routes=()
  for m in 1 2 3; do
    ((m == n)) || routes+=("nats-route://127.0.0.1:$((b + 9 + m))")
  done
  mkdir -p "$dir/n$n"
  cat >"$dir/n$n.conf" <<EOF
server_name: n$n
listen: 127.0.0.1:$((b + n - 1))
http: 127.0.0.1:$((b + 19 + n))
jetstream {
  store_dir: "$dir/n$n"
  max_memory_store: 256MB
  max_file_store: 4GB
}
cluster {
  name: meshq
  listen: 127.0.0.1:$((b + 9 + n))
  routes: [$(IFS=,; echo "${routes[*]}")]
}
EOF
}

node_running() {
  local pidfile=$dir/n$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_node() {
  local n=$1
  if node_running "$n"; then return 0; fi
  write_config "$n"
  # Where this run's log starts: a bind failure is looked for in it, not in an earlier run's.
  stat -c %s "$dir/n$n.log" 2>/dev/null >"$dir/n$n.logpos" || echo 0 >"$dir/n$n.logpos"
  "$NATS_SERVER" -c "$dir/n$n.conf" >>"$dir/n$n.log" 2>&1 &
  echo $! >"$dir/n$n.pid"
}

# JetStream is usable once every node's /healthz answers ok (a meta leader is elected and the
# node is current with it): the nodes named (just started), and the others running. A named node
# that is gone (maybe before the wait began) fails it: with status 3 when it could not bind a port.
wait_healthy() {
  local b deadline=$((SECONDS + ${NATS_START_TIMEOUT:-30})) nodes=("$@") n pending
  b=$(base_port)
  for n in 1 2 3; do
    [[ " ${nodes[*]} " == *" $n "* ]] || ! node_running "$n" || nodes+=("$n")
  done
  for (( ; ; )); do
    pending=0
    for n in "${nodes[@]}"; do
      if ! node_running "$n"; then
        if tail -c +"$(($(cat "$dir/n$n.logpos" 2>/dev/null || echo 0) + 1))" "$dir/n$n.log" |
          grep -q 'address already in use'; then
          echo "nats.sh: node n$n exited: a port of it is in use (see $dir/n$n.log)" >&2
          return 3
        fi
        echo "nats.sh: node n$n exited (see $dir/n$n.log)" >&2
        return 1
      fi
      curl -fsS -m 1 "http://127.0.0.1:$((b + 19 + n))/healthz" 2>/dev/null | grep -q ok ||
        pending=1
    done
    ((pending == 0)) && return 0
    if ((SECONDS > deadline)); then
      echo "nats.sh: not healthy in time (see $dir/n*.log)" >&2
      return 1
    fi
    sleep 0.1
  done
}

stop_node() {  # node, signal
  local n=$1 sig=${2:-TERM} pidfile=$dir/n$1.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
  rm -f "$pidfile"
}

case $cmd in
  start)
    mkdir -p "$dir"
    [[ -f $dir/base_port ]] || echo "${3:-4222}" >"$dir/base_port"
    for n in 1 2 3; do start_node "$n"; done
    rc=0
    wait_healthy 1 2 3 || rc=$?
    ((rc == 0)) || exit "$rc"
    url
    ;;
  stop)
    for n in 1 2 3; do stop_node "$n" TERM & done
    wait
    ;;
  kill-node)
    stop_node "${3:?node number}" "${4:-KILL}"
    ;;
  start-node)
    start_node "${3:?node number}"
    rc=0
    wait_healthy "$3" || rc=$?
    exit "$rc"
    ;;
  url)
    url
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
