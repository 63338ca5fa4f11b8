#!/usr/bin/env bash
# README's first command: installs what is missing, builds, and runs the main
# job: fsagent (in-memory store) against the bundled FreeSWITCH simulator
# serving 3 instances with a few hundred calls of varied quality.
# Stop with Ctrl-C; FSA_DEMO_SECONDS=N stops by itself after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$(nproc)" --target fsagent fssim

PORT=${FSA_DEMO_PORT:-18021}
WORK=$(mktemp -d)
trap 'kill $SIM_PID $AGENT_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT INT TERM

build-release/fssim --port "$PORT" --instances 3 --calls 100 --cps 10 --call-duration 60 \
  --duration-jitter 0.5 --rtcp-interval-ms 5000 --fire-rtcp --loss-pct 1 --jitter-ms 4 \
  --heartbeat 20 --ready-file "$WORK/ready" >"$WORK/fssim.out" 2>"$WORK/fssim.err" &
SIM_PID=$!
for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done

cat >"$WORK/config.yaml" <<YAML
freeswitch_instances:
  - {name: fs1, host: 127.0.0.1, port: $PORT, password: ClueCon}
  - {name: fs2, host: 127.0.0.1, port: $((PORT + 1)), password: ClueCon}
  - {name: fs3, host: 127.0.0.1, port: $((PORT + 2)), password: ClueCon}
storage: {type: memory}
logging: {level: info, format: text}
engine: {stats_log_interval_s: 10}
YAML

echo "fssim: 3 FreeSWITCH instances on 127.0.0.1:$PORT-$((PORT + 2)), 100 concurrent calls each"
echo "fsagent: config $WORK/config.yaml; counters every 10 s below. Ctrl-C stops both."
build-release/fsagent --config "$WORK/config.yaml" &
AGENT_PID=$!
if [ -n "${FSA_DEMO_SECONDS:-}" ]; then
  sleep "$FSA_DEMO_SECONDS"
  kill -TERM $AGENT_PID
fi
wait $AGENT_PID
