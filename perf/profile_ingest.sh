#!/usr/bin/env bash
# Profiles ingest (bench/ingest_bench.c) and prints the per-event figures that
# perf/README.md reports:
#   1. fsabench: events/s, ratio to the plain reader, CPU ns per event by
#      thread (best of RUNS; the machine's other load moves these figures);
#   2. perf record -e cpu-clock -g of the pipeline (hardware counters are not
#      available in VMs like this one): top symbols per thread, kernel
#      included;
#   3. callgrind of the reactor's user-space path alone (fsabench --esl-only:
#      framing, decoding, lane slot), collected only inside that loop: exact
#      instructions per event, the same on a busy or an idle machine;
#   4. the same for the whole user-space path (fsabench --user-only: the
#      ESL path, the calculator in groups of 16, every record encoded into
#      OTLP requests), one thread, no sockets: the pipeline's instructions
#      per event outside the kernel.
# Not callgrind of the threaded pipeline: under valgrind a reactor waiting in
# io_uring_enter holds valgrind's thread lock, and the run crawls or stalls.
# Usage: perf/profile_ingest.sh [build-dir] [events] [runs]
# Output: <build-dir>/perf-results/<stamp>-*.txt (inside the build folder,
# which git ignores) and a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
EVENTS=${2:-1000000}
RUNS=${3:-3}
OUT=$BUILD/perf-results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
BENCH=$BUILD/fsabench
FSSIM=$BUILD/fssim

[ -x "$BENCH" ] && [ -x "$FSSIM" ] || { echo "build $BUILD first (cmake --build $BUILD)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 2; }
mkdir -p "$OUT"

echo "== 1. fsabench --events $EVENTS --runs $RUNS"
"$BENCH" --fssim "$FSSIM" --events "$EVENTS" --runs "$RUNS" >"$OUT/$STAMP-bench.txt" 2>"$OUT/$STAMP-bench.log"
grep -E '^\|' "$OUT/$STAMP-bench.txt"

echo
echo "== 2. perf record (cpu-clock) of the pipeline"
if command -v perf >/dev/null && perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null; then
  DATA=$OUT/$STAMP-perf.data
  perf record -q -e cpu-clock -g -o "$DATA" -- \
    "$BENCH" --fssim "$FSSIM" --events "$EVENTS" --pipeline-only >/dev/null 2>>"$OUT/$STAMP-bench.log"
  : >"$OUT/$STAMP-perf.txt"
  for comm in fsa-reactor-0 fsa-worker-0 fsa-exporter fssim; do
    echo "-- $comm (share of its own samples)" >>"$OUT/$STAMP-perf.txt"
    perf report -i "$DATA" --comms "$comm" --percentage relative --no-children --sort dso,sym -g none \
      --percent-limit 1.5 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 >>"$OUT/$STAMP-perf.txt" || true
  done
  echo "-- samples per thread (the ingest window and the agent's stop)" >>"$OUT/$STAMP-perf.txt"
  perf report -i "$DATA" --no-children --sort comm -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' \
    >>"$OUT/$STAMP-perf.txt" || true
  rm -f "$DATA"
  sed -n '/^-- fsa-reactor-0/,/^-- fsa-worker-0/p' "$OUT/$STAMP-perf.txt" | head -16
  echo "(all threads: $OUT/$STAMP-perf.txt)"
else
  echo "perf is not installed or not permitted here (apt-get install linux-perf); skipped"
fi

callgrind_per_event() { # label mode toggle
  local label=$1 mode=$2 toggle=$3 n
  valgrind --tool=callgrind --toggle-collect="$toggle" --callgrind-out-file="$OUT/$STAMP-$label.callgrind" \
    "$BENCH" --fssim "$FSSIM" --events "$CG_EVENTS" "$mode" >"$OUT/$STAMP-$label.out" 2>"$OUT/$STAMP-$label.log"
  n=$(sed -n 's/^[a-z ]*: \([0-9]*\) events.*/\1/p' "$OUT/$STAMP-$label.out")
  callgrind_annotate --inclusive=yes "$OUT/$STAMP-$label.callgrind" 2>/dev/null | head -40 >"$OUT/$STAMP-$label.txt"
  local ir
  ir=$(grep -m1 'PROGRAM TOTALS' "$OUT/$STAMP-$label.txt" | awk '{gsub(",","",$1); print $1}')
  echo "instructions per event: $((ir / n)) ($ir over $n events)"
  callgrind_annotate --inclusive=no "$OUT/$STAMP-$label.callgrind" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed 1d |
    head -12 | awk -v n="$n" '{c=$1; gsub(",","",c); f=$(NF-1); sub(/^.*:/,"",f); printf "  %6.0f per event  %s\n", c / n, f}'
  rm -f "$OUT/$STAMP-$label.callgrind"
  echo "(per function: $OUT/$STAMP-$label.txt)"
}
CG_EVENTS=$((EVENTS / 20))

echo
echo "== 3. callgrind: the reactor's user-space path per event (fsabench --esl-only)"
callgrind_per_event esl --esl-only 'fsabench_esl_pass*'

echo
echo "== 4. callgrind: the whole pipeline's user-space path per event (fsabench --user-only)"
callgrind_per_event user --user-only 'fsabench_user_pass*'
