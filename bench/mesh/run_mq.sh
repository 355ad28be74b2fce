#!/usr/bin/env bash
# Mesh load run through the broker (--mode mq), optionally beside direct mode: starts a
# meshq-broker on a free loopback port with a throw-away store, points the agents at it
# (MESHQ_BROKER) and runs bench/mesh/run.sh with the same arguments; afterwards audits the stored
# calls (meshq-audit) so lost or duplicated calls show. The broker stops by itself at the end.
# --tls (passed on to run.sh): a throw-away PKI from tools/certs.sh in the run's temp dir; the
# broker serves broker.pem with mutual TLS (--tls-client-ca), the agents and the audit present
# client certificates of the same CA (see run.sh --tls).
#
#   bench/mesh/run_mq.sh [--with-direct] [--tls] [run.sh arguments, e.g. --duration 10s]
# Binaries come from ${MESHQ_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/../.."

WITH_DIRECT=0
TLS=0
ARGS=()
for a in "$@"; do
  if [[ $a == --with-direct ]]; then WITH_DIRECT=1; else ARGS+=("$a"); fi
  if [[ $a == --tls ]]; then TLS=1; fi
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

BROKER_TLS=()
AUDIT_TLS=()
if ((TLS)); then
  export MESHQ_PKI_DIR=$WORK/pki
  tools/certs.sh "$MESHQ_PKI_DIR" >/dev/null
  BROKER_TLS=(--tls-cert "$MESHQ_PKI_DIR/broker.pem" --tls-key "$MESHQ_PKI_DIR/broker-key.pem"
    --tls-client-ca "$MESHQ_PKI_DIR/ca.pem")
  AUDIT_TLS=(--tls-ca "$MESHQ_PKI_DIR/ca.pem" --tls-cert "$MESHQ_PKI_DIR/bob.pem"
    --tls-key "$MESHQ_PKI_DIR/bob-key.pem")
fi

# MESHQ_BROKER_FLAGS: more meshq-broker flags for A/B runs (e.g. "--commit-interval-ms 1000").
# shellcheck disable=SC2086
"$BROKER" --dir "$WORK/store" --port 0 --threads "${MESHQ_BROKER_THREADS:-1}" "${BROKER_TLS[@]}" \
  ${MESHQ_BROKER_FLAGS:-} >"$WORK/broker.out" 2>"$WORK/broker.err" &
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
"$AUDIT" --broker "$ADDR" "${AUDIT_TLS[@]}" --service com.alibaba.dubbo.performance.demo.provider.IHelloService \
  --limit 20 || true
