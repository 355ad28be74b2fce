#!/usr/bin/env bash
# Mesh load run: etcd + three provider simulators (capacities 1:2:3) with their provider-agents +
# one consumer-agent, all on loopback, loaded by wrk with bench/mesh/hash_check.lua (random
# parameters incl. non-ASCII, every answer checked) at several connection counts. Prints the bare
# loopback round trip first, then one row per level: QPS, % of the level's own bound
# (min(connections, sum(capacity)) / latency: a connection carries one call at a time, a provider
# at most its capacity), latency p50/p99, errors, wrong answers, agent CPU per 1000 requests
# (and the broker's, when MESHQ_BROKER_PID names it: run_mq.sh does), and in mq mode the latency
# of the two hops through the broker (consumer-agent -> provider-agent and back, as the agents
# measure them: meshq-agent's SIGUSR1).
# Then the same with zero provider latency (the agents' own cost). Everything stops by itself.
# --provider-close-percent P makes each provider close its connection on P% of the calls it
# receives (losing every call in flight on it; meshq-provider-sim --close-percent), and prints
# what the providers closed and dropped after each topology, to set against the HTTP errors
# (summed over its levels; no warm-up then).
# --metrics gives every agent a /metrics port (--metrics-port 0; docs/metrics.md): the cost of
# counting, against a run without. --prometheus (implies --metrics) also runs a real Prometheus
# server on loopback scraping the agents (and the broker of run_mq.sh, MESHQ_BROKER_METRICS) every
# second, and leaves its data directory for a look afterwards (printed at the end).
#
#   bench/mesh/run.sh [--mode direct] [--duration 15s] [--latency-ms 50]
#                     [--connections "128 256 512"] [--capacities "20 40 60"] [--threads 1]
#                     [--no-zero-latency] [--mq-durability written|synced|stored]
#                     [--provider-close-percent P] [--metrics] [--prometheus]
# Binaries come from ${MESHQ_BUILD_DIR:-build} (build them first: tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=direct
DURATION=15s
LATENCY_MS=50
CONNECTIONS="128 256 512"
CAPACITIES="20 40 60"
THREADS=1
ZERO_LATENCY=1
MQ_DURABILITY=written
CLOSE_PERCENT=0
METRICS=0
PROMETHEUS=0
while (($#)); do
  case "$1" in
    --mode) MODE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --latency-ms) LATENCY_MS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --capacities) CAPACITIES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --no-zero-latency) ZERO_LATENCY=0; shift ;;
    --mq-durability) MQ_DURABILITY=$2; shift 2 ;;
    --provider-close-percent) CLOSE_PERCENT=$2; shift 2 ;;
    --metrics) METRICS=1; shift ;;
    --prometheus) PROMETHEUS=1; METRICS=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# In mq mode the agents pass the durability on (when the broker acknowledges calls: written
# survives a broker kill -9, synced also a machine crash); the mode column says which.
MODE_OPTS=()
MODE_NAME=$MODE
if [[ $MODE == mq ]]; then
  MODE_OPTS=(--mq-durability "$MQ_DURABILITY")
  MODE_NAME="mq/$MQ_DURABILITY"
  # MESHQ_MQ_AGENT_FLAGS: more agent flags for mq mode (run_mq.sh --tls: --broker-tls-*).
  if [[ -n ${MESHQ_MQ_AGENT_FLAGS:-} ]]; then
    read -r -a extra <<<"$MESHQ_MQ_AGENT_FLAGS"
    MODE_OPTS+=("${extra[@]}")
    MODE_NAME="$MODE_NAME${MESHQ_MQ_MODE_SUFFIX:-}"
  fi
fi

BUILD=${MESHQ_BUILD_DIR:-build}
BROKER_PID=${MESHQ_BROKER_PID:-}
AGENT=$BUILD/agent/meshq-agent
SIM=$BUILD/tools/provider-sim/meshq-provider-sim
RTT=$BUILD/bench/mesh/loopback_rtt
for b in "$AGENT" "$SIM" "$RTT"; do
  [[ -x $b ]] || { echo "run.sh: $b not built (run tools/setup.sh or set MESHQ_BUILD_DIR)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/meshq-mesh-XXXXXX)
PIDS=()
PROM_PID=""
cleanup() {
  if [[ -n $PROM_PID ]]; then
    kill "$PROM_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
    echo "prometheus data (kept): $PROM_DIR  (look: $PROM_DIR/look.sh)" >&2
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  tools/etcd.sh stop "$WORK/etcd" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "listening on ADDR" in a process's stdout file; prints ADDR.
wait_listening() {
  local file=$1
  for _ in $(seq 1 100); do
    if grep -q "^listening on " "$file" 2>/dev/null; then
      sed -n 's/^listening on //p' "$file" | head -1
      return 0
    fi
    sleep 0.05
  done
  echo "run.sh: no 'listening on' in $file" >&2
  return 1
}

# CPU seconds (user+system) used so far by the given pids, from /proc/<pid>/stat.
cpu_seconds() {
  local ticks=0 pid
  for pid in "$@"; do
    # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    read -r ut st < <(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12, $13}')
    ticks=$((ticks + ut + st))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# The agents' metrics flags, and where their /metrics are ("metrics on ADDR" in their stdout).
METRICS_OPTS=()
((METRICS)) && METRICS_OPTS=(--metrics-port 0)
metrics_address() { sed -n 's/^metrics on //p' "$1" | head -1; }

# A free loopback port (Prometheus cannot report one it picked itself).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prometheus scrapes the targets listed in $PROM_DIR/targets.json, rewritten by each topology
# (file-based discovery: it rereads the file by itself).
PROM_DIR=""
start_prometheus() {
  PROM_DIR=$(mktemp -d /tmp/meshq-prometheus-XXXXXX)
  local port
  port=$(free_port)
  echo '[]' >"$PROM_DIR/targets.json"
  cat >"$PROM_DIR/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: meshq
    file_sd_configs:
      - files: ["$PROM_DIR/targets.json"]
        refresh_interval: 1s
YAML
  /usr/bin/prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="127.0.0.1:$port" >"$PROM_DIR/prometheus.log" 2>&1 &
  PROM_PID=$!
  PROM_URL="http://127.0.0.1:$port"
  cat >"$PROM_DIR/look.sh" <<LOOK
#!/bin/sh
# Serves this run's data again for a look: open http://127.0.0.1:9090/graph, e.g.
#   rate(meshq_agent_requests_total[5s])
#   histogram_quantile(0.99, rate(meshq_agent_request_duration_seconds_bucket[5s]))
exec /usr/bin/prometheus --config.file="$PROM_DIR/prometheus.yml" \\
  --storage.tsdb.path="$PROM_DIR/data" --web.listen-address=127.0.0.1:9090
LOOK
  chmod +x "$PROM_DIR/look.sh"
  for _ in $(seq 1 100); do
    if curl -sf "$PROM_URL/-/ready" >/dev/null 2>&1; then
      echo "prometheus: $PROM_URL, data $PROM_DIR"
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: prometheus did not become ready (see $PROM_DIR/prometheus.log)" >&2
  return 1
}

# The scrape targets of the current topology (and the broker's, when given).
write_targets() {
  [[ -n $PROM_DIR ]] || return 0
  local targets=() f a
  for f in "$WORK/ca.out" "$WORK"/pa{0,1,2}.out; do
    a=$(metrics_address "$f")
    [[ -n $a ]] && targets+=("\"$a\"")
  done
  [[ -n ${MESHQ_BROKER_METRICS:-} ]] && targets+=("\"$MESHQ_BROKER_METRICS\"")
  local IFS=,
  echo "[{\"targets\": [${targets[*]}], \"labels\": {\"run\": \"mesh\"}}]" >"$PROM_DIR/targets.json.tmp"
  mv "$PROM_DIR/targets.json.tmp" "$PROM_DIR/targets.json"
}

ETCD_URL=$(tools/etcd.sh start "$WORK/etcd")
((PROMETHEUS)) && start_prometheus
PREFIX=/meshq/bench/
read -r -a CAPS <<<"$CAPACITIES"

CONSUMER_PID=""
PROVIDER_AGENT_PIDS=()
TOPOLOGY_PIDS=()
start_topology() {
  local latency=$1 i
  TOPOLOGY_PIDS=()
  PROVIDER_AGENT_PIDS=()
  for i in 0 1 2; do
    "$SIM" --port 0 --latency-ms "$latency" --capacity "${CAPS[$i]}" --close-percent "$CLOSE_PERCENT" \
      >"$WORK/sim$i.out" 2>"$WORK/sim$i.err" &
    PIDS+=($!); TOPOLOGY_PIDS+=($!)
    local sim_addr
    sim_addr=$(wait_listening "$WORK/sim$i.out")
    "$AGENT" --role provider --mode "$MODE" "${MODE_OPTS[@]}" --etcd "$ETCD_URL" --service-prefix "$PREFIX" \
      --provider "$sim_addr" --weight "${CAPS[$i]}" --threads "$THREADS" "${METRICS_OPTS[@]}" \
      >"$WORK/pa$i.out" 2>"$WORK/pa$i.err" &
    PIDS+=($!); TOPOLOGY_PIDS+=($!); PROVIDER_AGENT_PIDS+=($!)
    wait_listening "$WORK/pa$i.out" >/dev/null
  done
  "$AGENT" --role consumer --mode "$MODE" "${MODE_OPTS[@]}" --etcd "$ETCD_URL" --service-prefix "$PREFIX" \
    --threads "$THREADS" "${METRICS_OPTS[@]}" >"$WORK/ca.out" 2>"$WORK/ca.err" &
  CONSUMER_PID=$!
  PIDS+=($!); TOPOLOGY_PIDS+=($!)
  CONSUMER_ADDR=$(wait_listening "$WORK/ca.out")
  for _ in $(seq 1 100); do
    if [[ $(curl -s "http://$CONSUMER_ADDR/endpoints" | grep -c weight=) -eq 3 ]]; then
      write_targets
      return 0
    fi
    sleep 0.05
  done
  echo "run.sh: consumer-agent did not see 3 providers" >&2
  return 1
}

stop_topology() {
  local pid
  for pid in "${TOPOLOGY_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${TOPOLOGY_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $CLOSE_PERCENT != 0 ]]; then
    # Each simulator's exit line: "provider-sim: calls=... closed=... dropped=...".
    cat "$WORK"/sim{0,1,2}.out | awk '/^provider-sim: / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
      END { printf "providers (--close-percent '"$CLOSE_PERCENT"'): calls answered %d, connections closed %d, calls in flight on them (lost) %d\n", s["calls"], s["closed"], s["dropped"] }'
  fi
}

# MQ mode: each agent answers SIGUSR1 with its hop latencies since the previous SIGUSR1 (lines
# "hop request|reply count=N ... buckets=U:N,..." on its stdout, see bridge/hop_stats.h). Asks
# every agent and waits (at most 5 s) until each has answered.
hop_period() {
  local f files=("$WORK/ca.out") before=() i
  for i in 0 1 2; do files+=("$WORK/pa$i.out"); done
  for f in "${files[@]}"; do before+=("$(grep -c '^hop reply ' "$f" || true)"); done
  kill -USR1 "$CONSUMER_PID" "${PROVIDER_AGENT_PIDS[@]}" || true  # a dead agent: said below
  for _ in $(seq 1 100); do
    local done=1
    for i in "${!files[@]}"; do
      (($(grep -c '^hop reply ' "${files[$i]}" || true) > ${before[$i]})) || done=0
    done
    ((done)) && return 0
    sleep 0.05
  done
  echo "run.sh: an agent did not report its hop stats" >&2
}

# "p50/p99/p99.9" in ms of one hop over the latest lines of the given agents' stdout (their
# buckets merged: request hops are recorded by the three provider-agents, reply hops by the
# consumer-agent).
hop_percentiles() {
  local hop=$1; shift
  local f
  for f in "$@"; do grep "^hop $hop " "$f" | tail -1; done | awk '
    { for (i = 1; i <= NF; i++) if ($i ~ /^buckets=/) {
        n = split(substr($i, 9), kv, ",")
        for (j = 1; j <= n; j++) { split(kv[j], p, ":"); c[p[1] + 0] += p[2]; total += p[2] } } }
    END {
      if (total == 0) { print "-"; exit }
      m = 0; for (u in c) keys[++m] = u + 0
      for (i = 2; i <= m; i++) { v = keys[i]; j = i - 1
        while (j > 0 && keys[j] > v) { keys[j + 1] = keys[j]; j-- } keys[j + 1] = v }
      split("0.5 0.99 0.999", ps, " "); out = ""
      for (k = 1; k <= 3; k++) { rank = ps[k] * total; seen = 0
        for (i = 1; i <= m; i++) { seen += c[keys[i]]; if (seen >= rank) break }
        out = out (k > 1 ? "/" : "") sprintf("%.2f", keys[i] / 1000) }
      print out }'
}

# The most QPS a level can reach: each of its connections carries one call at a time, and the
# providers serve at most sum(capacity) at once, each call taking the latency (0: unbounded).
level_bound() {
  local latency=$1 conns=$2
  awk -v c="$conns" -v s="$SUM" -v l="$latency" \
    'BEGIN { printf "%.0f", (l > 0 ? (c < s ? c : s) / (l / 1000) : 0) }'
}

# One wrk run; prints a table row.
run_level() {
  local latency=$1 conns=$2 duration=$3 bound
  bound=$(level_bound "$latency" "$conns")
  local c0 p0 c1 p1 b0=0 b1=0 out request_hop=- reply_hop=-
  [[ $MODE == mq ]] && hop_period  # starts the level's period
  c0=$(cpu_seconds "$CONSUMER_PID"); p0=$(cpu_seconds "${PROVIDER_AGENT_PIDS[@]}")
  [[ -n $BROKER_PID ]] && b0=$(cpu_seconds "$BROKER_PID")
  out=$(wrk -t2 -c"$conns" -d"$duration" --timeout 10s -s bench/mesh/hash_check.lua \
        "http://$CONSUMER_ADDR/" 2>&1)
  c1=$(cpu_seconds "$CONSUMER_PID"); p1=$(cpu_seconds "${PROVIDER_AGENT_PIDS[@]}")
  [[ -n $BROKER_PID ]] && b1=$(cpu_seconds "$BROKER_PID")
  if [[ $MODE == mq ]]; then
    hop_period
    request_hop=$(hop_percentiles request "$WORK"/pa{0,1,2}.out)
    reply_hop=$(hop_percentiles reply "$WORK/ca.out")
  fi
  local line
  line=$(grep '^MESH requests=' <<<"$out") || { echo "$out" >&2; return 1; }
  grep '^MESH first_' <<<"$out" >&2 || true
  awk -v line="$line" -v lat="$latency" -v conns="$conns" -v bound="$bound" \
      -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
      -v p="$(awk -v a="$p0" -v b="$p1" 'BEGIN{print b-a}')" \
      -v b="$(awk -v a="$b0" -v b="$b1" 'BEGIN{print b-a}')" -v broker="${BROKER_PID:+1}" \
      -v reqhop="$request_hop" -v rephop="$reply_hop" 'BEGIN {
    n = split(line, kv, " ")
    for (i = 2; i <= n; i++) { split(kv[i], pair, "="); f[pair[1]] = pair[2] }
    qps = f["requests"] / (f["duration_us"] / 1e6)
    pct = (bound > 0) ? sprintf("%.1f%% of %d", 100 * qps / bound, bound) : "-"
    per = (f["requests"] > 0) ? 1000 / f["requests"] : 0
    bcol = broker ? sprintf("%.4f", b * per) : "-"
    printf "| %s | %s | %s | %.0f | %s | %.1f | %.1f | %d | %d | %d | %.4f | %.4f | %.4f | %s | %.4f | %s | %s |\n",
      "'"$MODE_NAME"'", lat, conns, qps, pct, f["p50_us"] / 1000, f["p99_us"] / 1000, f["non200"],
      f["socket_errors"] + f["timeouts"], f["wrong"], c * per, p * per, (c + p) * per, bcol,
      (c + p + b) * per, reqhop, rephop
  }'
}

header() {
  echo "| mode | provider latency ms | connections | QPS | % of bound min(connections, sum capacity) / latency | p50 ms | p99 ms | non-200 | socket errors | wrong answers | consumer-agent CPU s/1000 req | provider-agents CPU s/1000 req | agents total CPU s/1000 req | broker CPU s/1000 req | agents + broker CPU s/1000 req | request hop p50/p99/p99.9 ms | reply hop p50/p99/p99.9 ms |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
}

echo "## machine"
echo "cores: $(nproc); $(uname -r); wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}')"
"$RTT" --connections 4 --seconds 2

SUM=0
for c in "${CAPS[@]}"; do SUM=$((SUM + c)); done
echo
echo "## mesh: capacities ${CAPACITIES} (sum $SUM), latency ${LATENCY_MS} ms, providers' bound $(level_bound "$LATENCY_MS" "$SUM") QPS, ${THREADS} agent thread(s), wrk -t2 ${DURATION} per level"
start_topology "$LATENCY_MS"
# No warm-up against closing providers: their counters then cover exactly the measured levels.
if [[ $CLOSE_PERCENT == 0 ]]; then
  wrk -t2 -c128 -d2s -s bench/mesh/hash_check.lua "http://$CONSUMER_ADDR/" >/dev/null 2>&1 || true  # warm-up
fi
header
for conns in $CONNECTIONS; do run_level "$LATENCY_MS" "$conns" "$DURATION"; done
stop_topology

if ((ZERO_LATENCY)); then
  echo
  echo "## mesh with zero provider latency (the agents' own cost)"
  start_topology 0
  if [[ $CLOSE_PERCENT == 0 ]]; then
    wrk -t2 -c128 -d2s -s bench/mesh/hash_check.lua "http://$CONSUMER_ADDR/" >/dev/null 2>&1 || true
  fi
  header
  for conns in $CONNECTIONS; do run_level 0 "$conns" "$DURATION"; done
  stop_topology
fi
