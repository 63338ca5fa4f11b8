#!/usr/bin/env bash
# Profiles the ingest pipeline (bench/ingest_bench.c):
#   1. perf record -e cpu-clock (hardware counters are not available in VMs
#      like CI's) with call graphs, and a perf report of the top symbols;
#   2. valgrind --tool=callgrind for a repeatable instruction count per event
#      (counts instructions, not time: the same on a busy or idle machine).
# Usage: perf/profile_ingest.sh [build-dir] [events]
# Output: perf/results/<date>-{perf.txt,callgrind.txt}
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
EVENTS=${2:-500000}
OUT=perf/results
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

[ -x "$BUILD/fsabench" ] || { echo "build $BUILD first (scripts/test.sh or cmake --build $BUILD)"; exit 2; }
command -v valgrind >/dev/null || apt-get install -y -q valgrind
command -v perf >/dev/null || apt-get install -y -q linux-perf || true

if command -v perf >/dev/null; then
  perf record -q -e cpu-clock -g -o "$OUT/$STAMP-perf.data" -- \
    "$BUILD/fsabench" --fssim "$BUILD/fssim" --events "$EVENTS" --runs 1 --pipeline-only
  perf report -i "$OUT/$STAMP-perf.data" --no-children --percent-limit 1 --stdio 2>/dev/null \
    | grep -v '^$' | head -80 > "$OUT/$STAMP-perf.txt"
  rm -f "$OUT/$STAMP-perf.data"
  echo "perf: $OUT/$STAMP-perf.txt"
fi

# Fewer events under valgrind: it runs ~50x slower; per-event figures do not depend on the count.
CG_EVENTS=$((EVENTS / 10))
valgrind --tool=callgrind --callgrind-out-file="$OUT/$STAMP.callgrind" --separate-threads=no \
  "$BUILD/fsabench" --fssim "$BUILD/fssim" --events "$CG_EVENTS" --runs 1 --pipeline-only \
  >/dev/null 2>"$OUT/$STAMP-callgrind.log" || true
callgrind_annotate "$OUT/$STAMP.callgrind" 2>/dev/null | head -60 > "$OUT/$STAMP-callgrind.txt"
total=$(grep -m1 -oE '^[0-9,]+ .*PROGRAM TOTALS' "$OUT/$STAMP-callgrind.txt" | cut -d' ' -f1 | tr -d ,)
if [ -n "$total" ]; then
  echo "callgrind: $total instructions for $CG_EVENTS events (incl. start-up): $((total / CG_EVENTS)) per event"
fi
rm -f "$OUT/$STAMP.callgrind"
echo "callgrind: $OUT/$STAMP-callgrind.txt"
