#!/usr/bin/env bash
# Draws the engine's scaling table (docs/BENCHMARKS.md, "Engine: scaling at 1M queues") from the
# JSON files of meshq-bench runs (--json FILE): send seconds, send CPU µs a message, peak RSS and
# disk bytes a message against the number of messages, one curve per label.
#
#   bench/plot_scaling.sh OUT.png LABEL=RUN.json[,RUN.json...] [LABEL=...]
#
# e.g. bench/plot_scaling.sh docs/scaling.png before=a10m.json,a50m.json after=b10m.json,b50m.json
# Needs jq and gnuplot (gnuplot-nox); every run must be a meshq run at the same queue count.
set -euo pipefail

if (($# < 2)); then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
out=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

plots=()
queues=""
for spec in "$@"; do
  label=${spec%%=*}
  files=${spec#*=}
  [[ $label != "$spec" && -n $label ]] || { echo "not LABEL=FILES: $spec" >&2; exit 2; }
  data="$work/$label.dat"
  IFS=, read -r -a runs <<<"$files"
  for f in "${runs[@]}"; do
    # messages, send s, send CPU µs a message, peak RSS GB over the phases, disk bytes a message
    jq -r '. as $r | $r.runs[0] as $m
      | ($m.phases | map(select(.phase == "send"))[0]) as $s
      | [$r.messages, $s.seconds, ($s.cpu_seconds / $r.messages * 1e6),
         (($m.phases | map(.peak_rss_bytes) | max) / 1e9), ($m.data_bytes / $r.messages),
         $r.queues] | @tsv' "$f"
  done | sort -n >"$data"
  q=$(cut -f6 "$data" | sort -u)
  [[ $(wc -l <<<"$q") == 1 ]] || { echo "$label: runs at different queue counts" >&2; exit 1; }
  [[ -z $queues || $queues == "$q" ]] || { echo "runs at different queue counts" >&2; exit 1; }
  queues=$q
  plots+=("$label")
done

panel() {  # column, title
  local s="plot"
  for label in "${plots[@]}"; do
    s+=" '$work/$label.dat' using 1:$1 with linespoints title '$label',"
  done
  printf 'set title "%s"\n%s\n' "$2" "${s%,}"
}

{
  echo "set terminal pngcairo size 1200,900 noenhanced"
  echo "set output '$out'"
  echo "set multiplot layout 2,2 title 'meshq-bench at $queues queues (x: messages sent)'"
  echo "set logscale x; set format x '%.0s%c'; set grid; set key top left"
  panel 2 "send phase, seconds"
  panel 3 "send CPU, microseconds a message (harness included)"
  panel 4 "peak RSS, GB"
  panel 5 "bytes on disk a message"
  echo "unset multiplot"
} >"$work/plot.gp"
gnuplot "$work/plot.gp"
echo "wrote $out"
