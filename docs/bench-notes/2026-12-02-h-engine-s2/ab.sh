#!/usr/bin/env bash
# A/B/C at the default profile's send phase: A = main 8b17f06, B = branch, C = branch --block-size 4096.
set -u
out=$1; rounds=${2:-3}
A=/work/wt/engine/build-main/bench/meshq-bench
B=/work/wt/engine/build/bench/meshq-bench
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for v in A B C; do
    d=/tmp/es2/run-$v-$r; rm -rf "$d"; mkdir -p "$d"
    case $v in
      A) cmd=("$A" --profile default --phases send --dir "$d" --json "$out/$v$r.json");;
      B) cmd=("$B" --profile default --phases send --dir "$d" --json "$out/$v$r.json");;
      C) cmd=("$B" --profile default --phases send --dir "$d" --block-size 4096 --json "$out/$v$r.json");;
    esac
    echo "== $v$r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 600 "${cmd[@]}" > "$out/$v$r.log" 2>&1; echo "rc $?"
    grep -E "^send " "$out/$v$r.log"
    rm -rf "$d"
  done
done
