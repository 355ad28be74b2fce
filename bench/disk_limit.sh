#!/usr/bin/env bash
# disk_limit.sh: the disk's own limits, measured with fio on the filesystem that holds --dir:
# sequential write and read (1 MiB blocks, O_DIRECT) and 4 KiB random reads at the harness's
# thread count. Prints a human summary, then one machine-readable line that meshq-bench parses:
#   MESHQ_DISK_LIMITS {"seq_write_MBps":..,"seq_read_MBps":..,"rand_read_iops":..,...}
# MB = 10^6 bytes. Usage: disk_limit.sh [--dir D] [--threads N] [--runtime SECONDS] [--size MiB]
set -euo pipefail

dir=.
threads=24
runtime=3
size_mib=1024
while (($#)); do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --size) size_mib=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "disk_limit.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v fio >/dev/null || { echo "disk_limit.sh: fio is not installed (tools/setup.sh installs it)" >&2; exit 2; }
mkdir -p "$dir"

# Keep the test file well under the free space (a quarter of it at most).
free_mib=$(( $(df -Pk "$dir" | awk 'NR==2 {print $4}') / 1024 ))
if (( size_mib > free_mib / 4 )); then size_mib=$(( free_mib / 4 )); fi
if (( size_mib < 64 )); then
  echo "disk_limit.sh: only ${free_mib} MiB free in $dir; need at least 256 MiB" >&2
  exit 2
fi

file="$dir/meshq-disk-limit.$$.tmp"
trap 'rm -f "$file"' EXIT
common=(--filename="$file" --size="${size_mib}M" --direct=1 --ioengine=psync
        --output-format=terse --terse-version=3)

# Field 7/8 of fio's terse v3 output are read KiB/s and IOPS, 48/49 the same for writes.
field() { cut -d';' -f"$1" | head -n1; }
kib_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

# Lay the file out with real data first, so the reads hit written blocks, not unwritten extents
# that read as zeros without touching the disk; then time sequential writes over it.
fio --name=layout "${common[@]}" --rw=write --bs=1M --end_fsync=1 >/dev/null
out=$(fio --name=seqwrite "${common[@]}" --rw=write --bs=1M --end_fsync=1 --time_based \
          --runtime="$runtime")
write_mb=$(kib_to_mb "$(field 48 <<<"$out")")
out=$(fio --name=seqread "${common[@]}" --rw=read --bs=1M --time_based --runtime="$runtime")
read_mb=$(kib_to_mb "$(field 7 <<<"$out")")
out=$(fio --name=randread "${common[@]}" --rw=randread --bs=4k --numjobs="$threads" \
          --group_reporting --time_based --runtime="$runtime")
rand_iops=$(field 8 <<<"$out")
rand_mb=$(kib_to_mb "$(field 7 <<<"$out")")

fs=$(df -PT "$dir" | awk 'NR==2 {print $2}')
echo "disk limits of $dir ($fs, ${size_mib} MiB test file, ${runtime}s per job):"
echo "  sequential write 1 MiB O_DIRECT: ${write_mb} MB/s"
echo "  sequential read  1 MiB O_DIRECT: ${read_mb} MB/s"
echo "  random read 4 KiB O_DIRECT, ${threads} threads: ${rand_iops} IOPS (${rand_mb} MB/s)"
printf 'MESHQ_DISK_LIMITS {"seq_write_MBps":%s,"seq_read_MBps":%s,"rand_read_iops":%s,"rand_read_MBps":%s,"threads":%s,"runtime_s":%s,"file_MiB":%s,"fs":"%s"}\n' \
  "$write_mb" "$read_mb" "$rand_iops" "$rand_mb" "$threads" "$runtime" "$size_mib" "$fs"
