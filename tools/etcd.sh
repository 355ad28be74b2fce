#!/usr/bin/env bash
# Starts or stops a throw-away single-node etcd on loopback for scripts (bench, manual runs).
#   tools/etcd.sh start DIR   -> starts etcd with data in DIR/data on free loopback ports, waits
#                                until it answers, prints its client URL (http://127.0.0.1:PORT)
#   tools/etcd.sh stop DIR    -> stops that etcd and removes DIR/data
# The pid is kept in DIR/etcd.pid and the log in DIR/etcd.log.
set -euo pipefail

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
ETCD=${ETCD:-/usr/bin/etcd}

case "$cmd" in
  start)
    mkdir -p "$dir"
    for attempt in 1 2 3; do
      client=$(free_port); peer=$(free_port)
      url="http://127.0.0.1:$client"
      rm -rf "$dir/data"
      "$ETCD" --name meshq --data-dir "$dir/data" \
        --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "meshq=http://127.0.0.1:$peer" \
        --log-level error >"$dir/etcd.log" 2>&1 &
      echo $! >"$dir/etcd.pid"
      for _ in $(seq 1 100); do
        if curl -s -m 1 -X POST "$url/v3/kv/range" -d '{"key":"AA=="}' | grep -q header; then
          echo "$url"
          exit 0
        fi
        kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || break
        sleep 0.1
      done
      kill "$(cat "$dir/etcd.pid")" 2>/dev/null || true
    done
    echo "etcd did not start; see $dir/etcd.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$dir/etcd.pid" ]]; then
      pid=$(cat "$dir/etcd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/etcd.pid"
    fi
    rm -rf "$dir/data"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
