#!/usr/bin/env bash
# Long libFuzzer runs, beyond CI's short ones: each named target (default: all)
# runs SECONDS (wall clock, libFuzzer's -max_total_time; the CPU seconds it
# really got are measured and logged) from its seed corpus, then what it found that adds
# coverage is merged back into fuzz/corpus/<target>/ and one line is appended
# to fuzz/RUNS.md (the running total per target is what issue 5 asks for).
#   scripts/fuzz-long.sh 1500 esl_frame calc
# A crash stops the script with the reproducer path; nothing is merged then.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_TARGET=${1:?usage: fuzz-long.sh SECONDS [target...]}
shift
BUILD=${FSA_FUZZ_BUILD:-$ROOT/build-fuzz-long}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFSA_SANITIZE=address -DFSA_FUZZ=ON >"$BUILD.configure.log" 2>&1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$ROOT"/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
cmake --build "$BUILD" -j2 --target $(printf 'fuzz_%s ' "${targets[@]}") >"$BUILD.build.log" 2>&1

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for t in "${targets[@]}"; do
    work="$BUILD/long-work/$t"
    mkdir -p "$work" "$BUILD/artifacts/$t"
    log="$BUILD/long-$t.log"
    start=$(date -u +%FT%TZ)
    if ! /usr/bin/time -o "$BUILD/cpu-$t.txt" -f '%U %S' "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="$BUILD/artifacts/$t/" -print_final_stats=1 \
            "$work" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "fuzz_$t FAILED: see $log and $BUILD/artifacts/$t/" >&2
        echo "| $start | $t | $SECONDS_PER_TARGET | - | - | FINDING (see artifacts) |" >>"$ROOT/fuzz/RUNS.md"
        exit 1
    fi
    cpu=$(awk '{printf "%.0f", $1 + $2}' "$BUILD/cpu-$t.txt")
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    # Keep only inputs that add coverage to the committed seeds.
    "$BUILD/fuzz/fuzz_$t" -merge=1 "$ROOT/fuzz/corpus/$t" "$work" >"$BUILD/merge-$t.log" 2>&1
    echo "| $start | $t | $SECONDS_PER_TARGET | $cpu | $execs | clean |" >>"$ROOT/fuzz/RUNS.md"
    echo "fuzz_$t: $SECONDS_PER_TARGET s wall, $cpu s CPU, $execs execs, clean"
done
