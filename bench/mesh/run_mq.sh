#!/usr/bin/env bash
# Mesh load run through the broker (--mode mq), optionally beside direct mode: starts a
# meshq-broker on a free loopback port with a throw-away store, points the agents at it
# (MESHQ_BROKER) and runs bench/mesh/run.sh with the same arguments; afterwards audits the stored
# calls (meshq-audit) so lost or duplicated calls show. The broker stops by itself at the end.
#
#   bench/mesh/run_mq.sh [--with-direct] [--tls] [run.sh arguments, e.g. --duration 10s]
# --tls: mutual TLS between the agents and the broker, with a throw-away PKI that tools/certs.sh
# makes in the run's directory (the broker's certificate, one "mesh-agent" client certificate
# for both agent roles; docs/SECURITY.md); the mode column then reads mq/<durability>+tls.
# Binaries come from ${MESHQ_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/../.."

WITH_DIRECT=0
TLS=0
ARGS=()
for a in "$@"; do
  case $a in
    --with-direct) WITH_DIRECT=1 ;;
    --tls) TLS=1 ;;
    *) ARGS+=("$a") ;;
  esac
done

BUILD=${MESHQ_BUILD_DIR:-build}
BROKER=$BUILD/bridge/meshq-broker
AUDIT=$BUILD/bridge/meshq-audit
for b in "$BROKER" "$AUDIT"; do
  [[ -x $b ]] || { echo "run_mq.sh: $b not built" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/meshq-mq-XXXXXX)
BROKER_PID=""
cleanup() {
  if [[ -n $BROKER_PID ]]; then
    kill "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TLS_BROKER=()
CLIENT_TLS=()
if ((TLS)); then
  PKI=$WORK/pki
  bash tools/certs.sh "$PKI" mesh-agent >/dev/null
  TLS_BROKER=(--tls-cert "$PKI/broker.pem" --tls-key "$PKI/broker-key.pem"
    --tls-client-ca "$PKI/ca.pem")
  CLIENT_TLS=(--tls-ca "$PKI/ca.pem" --tls-cert "$PKI/mesh-agent.pem"
    --tls-key "$PKI/mesh-agent-key.pem")
  export MESHQ_MQ_AGENT_FLAGS="--broker-tls-ca $PKI/ca.pem --broker-tls-cert $PKI/mesh-agent.pem --broker-tls-key $PKI/mesh-agent-key.pem"
  export MESHQ_MQ_MODE_SUFFIX=+tls
fi

# MESHQ_BROKER_FLAGS: more meshq-broker flags for A/B runs (e.g. "--commit-interval-ms 1000").
# shellcheck disable=SC2086
"$BROKER" --dir "$WORK/store" --port 0 --threads "${MESHQ_BROKER_THREADS:-1}" \
  "${TLS_BROKER[@]}" ${MESHQ_BROKER_FLAGS:-} >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  grep -q "^listening on " "$WORK/broker.out" 2>/dev/null && break
  sleep 0.05
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/broker.out" | head -1)
[[ -n $ADDR ]] || { echo "run_mq.sh: broker did not start" >&2; cat "$WORK/broker.err" >&2; exit 1; }
export MESHQ_BROKER=$ADDR
echo "broker: $ADDR (store $WORK/store)"

if ((WITH_DIRECT)); then
  bash bench/mesh/run.sh --mode direct "${ARGS[@]}"
  echo
fi
MESHQ_BROKER_PID=$BROKER_PID bash bench/mesh/run.sh --mode mq "${ARGS[@]}"

echo
echo "## audit of the stored calls (meshq-audit)"
"$AUDIT" --broker "$ADDR" --service com.alibaba.dubbo.performance.demo.provider.IHelloService \
  --limit 20 "${CLIENT_TLS[@]}" || true
