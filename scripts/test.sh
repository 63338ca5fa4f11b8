#!/usr/bin/env bash
# Builds fsagent every way CI cares about and runs every test (README's second
# command). Each stage is its own build folder so a failure names its stage:
#   release   -Werror, jemalloc         ctest (unit, integration, fuzz seeds)
#   asan      ASan+UBSan                ctest
#   tsan      ThreadSanitizer           ctest
#   fuzz      clang libFuzzer + ASan    each target for FSA_FUZZ_SECONDS
# Set FSA_STAGES="release asan" to run a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/deps.sh --test

STAGES=${FSA_STAGES:-"release asan tsan fuzz"}
FUZZ_SECONDS=${FSA_FUZZ_SECONDS:-20}
JOBS=$(nproc)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1"

configure_build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -DFSA_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$JOBS"
}

# ctest in a build folder; a skipped test (exit 77: a tool it needs is missing)
# fails the stage, since a test that did not run has not passed.
run_ctest() { # dir, ctest args...
  local dir=$1; shift
  local log="$dir/ctest-stage.log"
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || return "$rc"
  if grep -q '\*\*\*Skipped\|Not Run' "$log"; then
    echo "tests were skipped (see above): a test that cannot run fails the stage"
    return 1
  fi
}

run_stage() {
  case $1 in
    release) configure_build build-release -DCMAKE_BUILD_TYPE=Release &&
             run_ctest build-release -j"$JOBS" ;;
    asan)    configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DFSA_SANITIZE=address &&
             run_ctest build-asan -j"$JOBS" ;;
    tsan)    configure_build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFSA_SANITIZE=thread &&
             run_ctest build-tsan -j"$JOBS" ;;
    fuzz)    configure_build build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
               -DFSA_SANITIZE=address -DFSA_FUZZ=ON -DFSA_FUZZ_SECONDS="$FUZZ_SECONDS" &&
             run_ctest build-fuzz -R '^fuzz\.' ;;
    *) echo "unknown stage $1"; return 2 ;;
  esac
}

# Each stage's wall time; on a failure, which stages did not run.
summary=()
remaining=($STAGES)
for stage in $STAGES; do
  remaining=("${remaining[@]:1}")
  echo "=== stage: $stage"
  t0=$SECONDS
  # (a function called as an `if` condition runs without set -e: run_stage chains with &&)
  if run_stage "$stage"; then
    summary+=("$stage passed in $((SECONDS - t0)) s")
  else
    summary+=("$stage FAILED after $((SECONDS - t0)) s")
    [ ${#remaining[@]} -gt 0 ] && summary+=("not run: ${remaining[*]}")
    printf '=== %s\n' "${summary[@]}"
    exit 1
  fi
  echo "=== $stage passed in $((SECONDS - t0)) s"
done
printf '=== %s\n' "${summary[@]}"
echo "all stages passed: $STAGES"
