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

for stage in $STAGES; do
  echo "=== stage: $stage"
  case $stage in
    release) configure_build build-release -DCMAKE_BUILD_TYPE=Release
             (cd build-release && ctest --output-on-failure -j"$JOBS") ;;
    asan)    configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DFSA_SANITIZE=address
             (cd build-asan && ctest --output-on-failure -j"$JOBS") ;;
    tsan)    configure_build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFSA_SANITIZE=thread
             (cd build-tsan && ctest --output-on-failure -j"$JOBS") ;;
    fuzz)    configure_build build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
               -DFSA_SANITIZE=address -DFSA_FUZZ=ON -DFSA_FUZZ_SECONDS="$FUZZ_SECONDS"
             (cd build-fuzz && ctest --output-on-failure -R '^fuzz\.') ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
echo "all stages passed: $STAGES"
