#!/usr/bin/env bash
# TLS against plaintext, interleaved: PAIRS rounds of bench/mesh/run_mq.sh --with-direct (direct
# and MQ mode, at the provider latency given and at zero latency) once plaintext and once with
# --tls, the order alternating (ABBA) so drift of a shared machine falls on both. Prints the bare
# loopback round trips the runs measured, then per (mode, latency) the medians: QPS, TLS QPS as
# % of plaintext, errors and wrong answers (summed over the rounds), agents' (+ broker's) CPU
# seconds per 1000 requests. Every run's full output is kept in the printed directory.
#
#   bench/mesh/tls_ab.sh [--pairs 3] [--duration 20s] [--connections 256] [--latency-ms 50]
#                        [--no-zero-latency]
set -euo pipefail
cd "$(dirname "$0")/../.."

PAIRS=3
DURATION=20s
CONNECTIONS=256
LATENCY_MS=50
EXTRA=()
while (($#)); do
  case "$1" in
    --pairs) PAIRS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --latency-ms) LATENCY_MS=$2; shift 2 ;;
    --no-zero-latency) EXTRA+=(--no-zero-latency); shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "tls_ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

OUT=$(mktemp -d /tmp/meshq-tls-ab-XXXXXX)
echo "runs: $OUT"
run() {  # run NAME [--tls]
  local name=$1; shift
  bash bench/mesh/run_mq.sh --with-direct --connections "$CONNECTIONS" --duration "$DURATION" \
    --latency-ms "$LATENCY_MS" "${EXTRA[@]}" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err" ||
    echo "tls_ab.sh: run $name failed (its rows are left out; see $OUT/$name.err)" >&2
}
for ((i = 0; i < PAIRS; i++)); do
  if ((i % 2 == 0)); then
    run "plain-$i"; run "tls-$i" --tls
  else
    run "tls-$i" --tls; run "plain-$i"
  fi
done

echo "## bare loopback round trip (bench/mesh/loopback_rtt, one line per run)"
grep -h "^RTT" "$OUT"/*.txt
echo
echo "## medians of $PAIRS interleaved pairs, $CONNECTIONS connections, $DURATION per level"
echo "| mode | provider latency ms | plaintext QPS | TLS QPS | TLS / plaintext | plaintext p99 ms | TLS p99 ms | errors plain/TLS | wrong plain/TLS | CPU s/1000 req plain | CPU s/1000 req TLS | TLS CPU / plaintext |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
# Rows of run.sh: | mode | latency | connections | QPS | % | p50 | p99 | non-200 | socket errors |
# wrong | consumer CPU | provider CPU | agents CPU | broker CPU | agents + broker CPU | ...
awk -F'|' '
  FNR == 1 { tls = (FILENAME ~ /\/tls-/) }
  $2 ~ /^ (direct|mq)/ && $4 + 0 > 0 {
    mode = $2; gsub(/ |\+tls/, "", mode); key = mode "|" ($3 + 0); keys[key] = 1
    n = ++count[key, tls]
    qps[key, tls, n] = $5; p99[key, tls, n] = $8; cpu[key, tls, n] = $16
    errors[key, tls] += $9 + $10; wrong[key, tls] += $11
  }
  function median(arr, k0, t0, m,   i, j, v, s) {
    for (i = 1; i <= m; i++) s[i] = arr[k0, t0, i] + 0
    for (i = 2; i <= m; i++) { v = s[i]; j = i - 1; while (j > 0 && s[j] > v) { s[j + 1] = s[j]; j-- } s[j + 1] = v }
    return m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
  }
  END {
    for (key in keys) {
      split(key, k, "|"); na = count[key, 0]; nb = count[key, 1]
      if (na == 0 || nb == 0) continue
      q0 = median(qps, key, 0, na); q1 = median(qps, key, 1, nb)
      c0 = median(cpu, key, 0, na); c1 = median(cpu, key, 1, nb)
      printf "| %s | %s | %.0f | %.0f | %.1f%% | %.1f | %.1f | %d/%d | %d/%d | %.4f | %.4f | %.2f |\n",
        k[1], k[2], q0, q1, 100 * q1 / q0, median(p99, key, 0, na), median(p99, key, 1, nb),
        errors[key, 0], errors[key, 1], wrong[key, 0], wrong[key, 1], c0, c1, (c0 > 0 ? c1 / c0 : 0)
    }
  }' "$OUT"/plain-*.txt "$OUT"/tls-*.txt | sort
