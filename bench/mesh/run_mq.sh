#!/usr/bin/env bash
# Mesh load run through the broker (--mode mq), optionally beside direct mode: starts a
# meshq-broker on a free loopback port with a throw-away store, points the agents at it
# (MESHQ_BROKER) and runs bench/mesh/run.sh with the same arguments; afterwards audits the stored
# calls (meshq-audit) so lost or duplicated calls show. The broker stops by itself at the end.
# --backend nats runs the same over a 3-node NATS JetStream cluster (tools/nats.sh, streams R3;
# MESHQ_NATS_REPLICAS=1 for R1) instead: the agents get --mq-url nats://... (MESHQ_MQ_URL), the
# CPU column counts the three nodes, the audit reads the streams. --kill-node-after S kills
# (SIGKILL) node n1 S seconds into the mq run (NATS only).
# --tls (passed on to run.sh; meshq backend only): a throw-away PKI from tools/certs.sh in the
# run's temp dir; the broker serves broker.pem with mutual TLS (--tls-client-ca), the agents and
# the audit present client certificates of the same CA (see run.sh --tls).
#
#   bench/mesh/run_mq.sh [--with-direct] [--backend meshq|nats] [--kill-node-after S] [--tls]
#                        [run.sh arguments, e.g. --duration 10s]
# Binaries come from ${MESHQ_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/../.."

WITH_DIRECT=0
TLS=0
BACKEND=meshq
KILL_AFTER=""
ARGS=()
while (($#)); do
  case "$1" in
    --with-direct) WITH_DIRECT=1; shift ;;
    --backend) BACKEND=$2; shift 2 ;;
    --kill-node-after) KILL_AFTER=$2; shift 2 ;;
    --tls) TLS=1; ARGS+=("$1"); shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ $BACKEND == meshq || $BACKEND == nats ]] || { echo "run_mq.sh: --backend meshq|nats" >&2; exit 2; }
[[ $BACKEND == meshq || $TLS == 0 ]] || { echo "run_mq.sh: --tls is for the meshq backend" >&2; exit 2; }

BUILD=${MESHQ_BUILD_DIR:-build}
BROKER=$BUILD/bridge/meshq-broker
AUDIT=$BUILD/bridge/meshq-audit
for b in "$BROKER" "$AUDIT"; do
  [[ -x $b ]] || { echo "run_mq.sh: $b not built" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/meshq-mq-XXXXXX)
BROKER_PID=""
KILLER_PID=""
cleanup() {
  [[ -n $KILLER_PID ]] && kill "$KILLER_PID" 2>/dev/null || true
  [[ $BACKEND == nats ]] && tools/nats.sh stop "$WORK/nats" >/dev/null 2>&1 || true
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

SERVICE=com.alibaba.dubbo.performance.demo.provider.IHelloService
if [[ $BACKEND == nats ]]; then
  URL=$(tools/nats.sh start "$WORK/nats" "${MESHQ_NATS_BASE_PORT:-14222}")
  URL="$URL?replicas=${MESHQ_NATS_REPLICAS:-3}"
  export MESHQ_MQ_URL=$URL
  NODE_PIDS=$(cat "$WORK"/nats/n{1,2,3}.pid | tr '\n' ' ')
  echo "nats: $URL (nodes $NODE_PIDS, stores $WORK/nats)"
  # The streams exist before the mesh calls (as in a deployment): made by one call now.
  "$BUILD/bridge/meshq-rpc-bench" --mq-url "$URL" --calls 1 --concurrency 1 >/dev/null 2>&1 || true
  if ((WITH_DIRECT)); then
    bash bench/mesh/run.sh --mode direct "${ARGS[@]}"
    echo
  fi
  if [[ -n $KILL_AFTER ]]; then
    (sleep "$KILL_AFTER" && tools/nats.sh kill-node "$WORK/nats" 1 KILL &&
      echo "run_mq.sh: killed nats node n1 (SIGKILL) after ${KILL_AFTER}s") &
    KILLER_PID=$!
    NODE_PIDS=$(cat "$WORK"/nats/n{2,3}.pid | tr '\n' ' ')  # the survivors' CPU is counted
  fi
  MESHQ_BROKER_PID=$NODE_PIDS bash bench/mesh/run.sh --mode mq "${ARGS[@]}"
  echo
  echo "## audit of the stored calls (meshq-audit over the NATS streams)"
  "$AUDIT" --mq-url "$URL" --service "$SERVICE" --limit 20 || true
  exit 0
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
"$AUDIT" --broker "$ADDR" "${AUDIT_TLS[@]}" --service "$SERVICE" --limit 20 || true
