#!/usr/bin/env bash
# Starts or stops a throw-away single-node etcd on loopback for scripts (bench, tests, manual runs).
#   tools/etcd.sh start DIR              -> starts etcd with data in DIR/data on free loopback
#                                           ports, waits until it answers, prints its client URL
#                                           (http://127.0.0.1:PORT)
#   tools/etcd.sh start DIR --tls CERTS  -> the same over TLS with etcd's --client-cert-auth and
#                                           auth on; prints https://127.0.0.1:PORT (see below)
#   tools/etcd.sh stop DIR               -> stops that etcd and removes DIR/data
# The pid is kept in DIR/etcd.pid and the log in DIR/etcd.log.
#
# TLS mode. CERTS is a directory made by tools/certs.sh (its ca.pem and ca-key.pem are used): etcd
# trusts only that CA's client certificates, so a client without one, or with another CA's,
# fails the handshake. Then auth is enabled with a root user and one user for the agents,
# ETCD_AGENT_USER (meshq-agent), whose role grants readwrite on ETCD_PREFIX (/meshq/services/)
# and nothing else. Written to DIR/tls/:
#   server.pem        etcd's own certificate (127.0.0.1, localhost; also a client certificate:
#                     etcd's gateway dials etcd with it), key server-key.pem
#   agent.pem         the agents' registry client certificate, without a CN: etcd's HTTP gateway
#                     (which the agents use) refuses certificates with a CN once auth is on, since
#                     it cannot take the user from one (etcd PR 10366); the user is therefore
#                     proven by a password, over the mutually authenticated connection; key
#                     agent-key.pem
#   agent.password    that user's password; root.password the root user's
set -euo pipefail

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

usage() {
  echo "usage: $0 start DIR [--tls CERTDIR] | stop DIR" >&2
  exit 2
}

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || usage
certs=""
if [[ ${3:-} == --tls ]]; then
  certs=${4:-}
  [[ -n "$certs" ]] || usage
elif [[ -n ${3:-} ]]; then
  usage
fi
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
AGENT_USER=${ETCD_AGENT_USER:-meshq-agent}
PREFIX=${ETCD_PREFIX:-/meshq/services/}

# Issues DIR/tls/NAME.pem (key NAME-key.pem) from the CERTS CA: subject $2, extendedKeyUsage $3,
# subjectAltName $4 (may be empty).
issue() {
  local name=$1 subject=$2 usage=$3 san=$4 out="$dir/tls"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
    -keyout "$out/$name-key.pem" -out "$out/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "extendedKeyUsage=$usage"
    [[ -z "$san" ]] || echo "subjectAltName=$san"
  } >"$out/$name.ext"
  openssl x509 -req -in "$out/$name.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -sha256 -extfile "$out/$name.ext" \
    -out "$out/$name.pem" 2>/dev/null
  rm -f "$out/$name.csr" "$out/$name.ext"
  chmod 600 "$out/$name-key.pem"
}

# Creates the users and the role, then turns auth on (etcdctl speaks gRPC; before auth is on any
# certificate of the CA may do this).
setup_auth() {
  local url=$1
  local ctl=("$ETCDCTL" --endpoints "$url" --cacert "$certs/ca.pem" --cert "$dir/tls/agent.pem"
    --key "$dir/tls/agent-key.pem" --dial-timeout 3s --command-timeout 5s)
  ETCDCTL_API=3 "${ctl[@]}" user add "root:$(cat "$dir/tls/root.password")" >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" user grant-role root root >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" user add "$AGENT_USER:$(cat "$dir/tls/agent.password")" >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" role add meshq-registry >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" role grant-permission meshq-registry --prefix=true readwrite \
    "$PREFIX" >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" user grant-role "$AGENT_USER" meshq-registry >/dev/null
  ETCDCTL_API=3 "${ctl[@]}" auth enable >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    scheme=http
    tls_flags=()
    probe=(curl -s -m 1)
    if [[ -n "$certs" ]]; then
      [[ -f "$certs/ca.pem" && -f "$certs/ca-key.pem" ]] || {
        echo "etcd.sh: $certs has no ca.pem/ca-key.pem (make it with tools/certs.sh)" >&2
        exit 2
      }
      scheme=https
      rm -rf "$dir/tls"
      mkdir -p "$dir/tls"
      issue server "/O=meshq/CN=etcd" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
      issue agent "/O=meshq/OU=registry" clientAuth ""
      head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$dir/tls/agent.password"
      head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$dir/tls/root.password"
      chmod 600 "$dir/tls/agent.password" "$dir/tls/root.password"
      tls_flags=(--cert-file "$dir/tls/server.pem" --key-file "$dir/tls/server-key.pem"
        --trusted-ca-file "$certs/ca.pem" --client-cert-auth)
      probe+=(--cacert "$certs/ca.pem" --cert "$dir/tls/agent.pem" --key "$dir/tls/agent-key.pem")
    fi
    for attempt in 1 2 3; do
      client=$(free_port); peer=$(free_port)
      url="$scheme://127.0.0.1:$client"
      rm -rf "$dir/data"
      "$ETCD" --name meshq --data-dir "$dir/data" \
        --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "meshq=http://127.0.0.1:$peer" \
        "${tls_flags[@]}" --log-level error >"$dir/etcd.log" 2>&1 &
      echo $! >"$dir/etcd.pid"
      for _ in $(seq 1 100); do
        if "${probe[@]}" -X POST "$url/v3/kv/range" -d '{"key":"AA=="}' | grep -q header; then
          [[ -z "$certs" ]] || setup_auth "$url"
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
    rm -rf "$dir/data" "$dir/tls"
    ;;
  *)
    usage
    ;;
esac
