#!/bin/bash
# The scale table of the README: for each tenant size, a synthetic tenant as canonical
# Parquet (synth), converted into a dataset partitioned by day and split into user buckets
# (convert --buckets, under the memory limit), scored from the dataset in one pass and under
# a memory limit (score --memory-limit), each timed with its peak RSS; the outputs of the
# two scores are compared byte for byte.
#
#   cargo build --release
#   benches/scale.sh /tmp/scale 2500x30 25000x30 40000x92        # USERSxDAYS...
#
# LIMIT (default 4GiB) is the memory limit of convert and of the limited score; BUCKETS
# (default 16) the dataset's user buckets. A tenant of more than ONE_PASS_MAX sign-ins
# (default 60000000) is not scored in one pass: it would not fit this machine. Tenants are
# kept under WORK/USERSxDAYS and reused by a second run. Needs GNU time (/usr/bin/time).
set -euo pipefail
bin=${IDRISK:-target/release/idrisk}
work=${1:?usage: benches/scale.sh WORK USERSxDAYS...}
shift
limit=${LIMIT:-4GiB}
buckets=${BUCKETS:-16}
one_pass_max=${ONE_PASS_MAX:-60000000}
timed() { # label, command...: prints "label wall_s peak_MB"
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1
  read -r wall peak <"$work/time"
  printf '%-28s %8.1f s %8.0f MB\n' "$label" "$wall" "$((peak / 1024))"
}
mkdir -p "$work"
for size in "$@"; do
  users=${size%x*}
  days=${size#*x}
  t="$work/$size"
  if [ ! -d "$t/signins" ]; then
    timed "synth $size" "$bin" synth --users "$users" --days "$days" --seed 7 \
      --shape parquet --out "$t" -q
  fi
  side=(--geoip-city "$t/geoip-city.mmdb" --geoip-asn "$t/geoip-asn.mmdb"
    --anonymous-ip "$t/anonymous-ip.mmdb" --anonymous-list "$t/tor-exit-nodes.txt"
    --threat-intel "$t/threat-intel.txt" --infected-list "$t/infected-ips.txt"
    --leaked-accounts "$t/leaked-accounts.txt" -q)
  rm -rf "$t/dataset" "$t/whole" "$t/limited"
  # synth's own count of what it wrote.
  rows=$(sed -n 's/^total = //p' "$t/tenant.toml")
  echo "== $size: $rows sign-ins"
  timed "convert to dataset ($limit)" "$bin" convert "$t/signins" --out "$t/dataset/" \
    --buckets "$buckets" --memory-limit "$limit" -q
  if [ "$rows" -le "$one_pass_max" ]; then
    timed "score dataset" "$bin" score "$t/dataset" --out "$t/whole" "${side[@]}"
  fi
  timed "score dataset ($limit)" "$bin" score "$t/dataset" --out "$t/limited" \
    --memory-limit "$limit" "${side[@]}"
  if [ -d "$t/whole" ]; then
    for table in detections risky_signins risky_users risky_service_principals timeline; do
      cmp -s "$t/whole/$table.jsonl" "$t/limited/$table.jsonl" || echo "   $table DIFFERS"
    done
  fi
  python3 -c 'import json,sys; print("   shards:", json.load(open(sys.argv[1]))["run"]["shards"])' \
    "$t/limited/summary.json"
done
