#!/usr/bin/env bash
# Runs one CTest test with a TMPDIR of its own and removes that folder when the
# test ends, whatever it left there (fssim and agent logs, receiver output,
# Redis dumps, Chromium profiles): a full run leaves nothing in /tmp.
# FSA_KEEP_TMP=1 keeps the folder for a post-mortem and prints where it is.
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/fsa-test.XXXXXX") || exit 1
export TMPDIR=$dir

cleanup() {
  if [ "${FSA_KEEP_TMP:-0}" = 1 ]; then
    echo "run_test: kept $dir" >&2
  else
    rm -rf "$dir"
  fi
}
child=
forward() { [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; }
trap forward TERM INT

"$@" &
child=$!
# wait returns early when a trapped signal arrives: wait again for the exit code.
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break
done
cleanup
exit "$rc"
