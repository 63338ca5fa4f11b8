#!/usr/bin/env bash
# README's first command: installs what is missing, builds, and runs the main
# job: fsagent (in-memory store) against the bundled FreeSWITCH simulator
# serving 3 instances with a few hundred calls of varied quality, exporting
# to the OTLP endpoint (FSA_DEMO_OTLP, default localhost:4317; FSA_DEMO_RECEIVER=1
# starts a local receiver instead), status page on FSA_DEMO_HTTP_PORT (8080).
# Stop with Ctrl-C; FSA_DEMO_SECONDS=N stops by itself after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$(nproc)" --target fsagent fssim

PORT=${FSA_DEMO_PORT:-18021}
HTTP_PORT=${FSA_DEMO_HTTP_PORT:-8080}
OTLP=${FSA_DEMO_OTLP:-localhost:4317}
# The run's config, logs and (with the local receiver) what it received stay in
# build-release/demo after the demo stops; the next run replaces them.
WORK=$PWD/build-release/demo
rm -rf "$WORK" && mkdir -p "$WORK"
SIM_PIDS=()
AGENT_PID=""
RECEIVER_PID=""
# Every child runs in a session of its own (setsid), so Ctrl-C reaches only this
# script, which then stops them in order: fsagent first (it drains its lanes and
# flushes every point while fssim and the receiver are still there), then the
# FreeSWITCH simulators, the receiver last.
stop_all() {
  trap - INT TERM EXIT
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    echo "stopping fsagent (it flushes what it holds) ..."
    kill -TERM "$AGENT_PID" 2>/dev/null || true
  fi
  [ -n "$AGENT_PID" ] && { wait "$AGENT_PID" 2>/dev/null || true; }
  [ ${#SIM_PIDS[@]} -gt 0 ] && kill -TERM "${SIM_PIDS[@]}" 2>/dev/null || true
  [ ${#SIM_PIDS[@]} -gt 0 ] && { wait "${SIM_PIDS[@]}" 2>/dev/null || true; }
  if [ -n "$RECEIVER_PID" ]; then
    kill -TERM "$RECEIVER_PID" 2>/dev/null || true
    wait "$RECEIVER_PID" 2>/dev/null || true
    local accepted
    accepted=$(grep -c '"status":"OK"' "$WORK/otlp.jsonl" 2>/dev/null) || accepted=${accepted:-0}
    echo "receiver: $accepted Export requests accepted," \
         "one JSON line each in $WORK/otlp.jsonl"
  fi
  echo "demo stopped; config and logs are in $WORK"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# Three FreeSWITCH servers of different quality, 100 concurrent calls each:
# fs1 clean, fs2 a lossy access network, fs3 a bad one.
qualities=("0 1" "2 12" "8 45")
for i in 0 1 2; do
  read -r loss jitter <<<"${qualities[$i]}"
  setsid build-release/fssim --port $((PORT + i)) --instances 1 --calls 100 --cps 10 --call-duration 60 \
    --duration-jitter 0.5 --rtcp-interval-ms 5000 --fire-rtcp --loss-pct "$loss" --jitter-ms "$jitter" \
    --heartbeat 20 --seed $((i + 1)) --ready-file "$WORK/ready$i" >"$WORK/fssim$i.out" 2>"$WORK/fssim$i.err" &
  SIM_PIDS+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 100); do [ -e "$WORK/ready$i" ] && break; sleep 0.1; done
done

if [ -n "${FSA_DEMO_RECEIVER:-}" ]; then
  # A local OTLP/gRPC receiver (the tests' grpc-js server with the official protos) in place of
  # a Collector: one JSON line per Export request.
  scripts/receiver-deps.sh
  setsid node tests/receiver/receiver.js --port 0 --out "$WORK/otlp.jsonl" >"$WORK/receiver.out" 2>&1 &
  RECEIVER_PID=$!
  for _ in $(seq 100); do grep -q '^listening' "$WORK/receiver.out" 2>/dev/null && break; sleep 0.1; done
  OTLP="127.0.0.1:$(awk '/^listening/ {print $2}' "$WORK/receiver.out")"
fi

cat >"$WORK/config.yaml" <<YAML
freeswitch_instances:
  - {name: fs1, host: 127.0.0.1, port: $PORT, password: ClueCon}
  - {name: fs2, host: 127.0.0.1, port: $((PORT + 1)), password: ClueCon}
  - {name: fs3, host: 127.0.0.1, port: $((PORT + 2)), password: ClueCon}
storage: {type: memory}
opentelemetry: {endpoint: "$OTLP", insecure: true}
http: {port: $HTTP_PORT}
logging: {level: info, format: text}
engine: {stats_log_interval_s: 10}
YAML

echo "fssim:   3 FreeSWITCH instances on 127.0.0.1:$PORT-$((PORT + 2)), 100 concurrent calls each"
echo "         (fs1 clean, fs2 2 % loss / 12 ms jitter, fs3 8 % loss / 45 ms jitter)"
echo "fsagent: config $WORK/config.yaml, exporting OTLP/gRPC to $OTLP"
echo "status:  http://127.0.0.1:$HTTP_PORT/   (also /health, /ready, /metrics)"
if [ -n "${FSA_DEMO_RECEIVER:-}" ]; then
  echo "         a local receiver takes the export: one line per request in $WORK/otlp.jsonl"
else
  echo "         No collector there? fsagent keeps running, retries, and the status page says so."
  echo "         Point it at yours: FSA_DEMO_OTLP=collector.example.net:4317 scripts/demo.sh"
  echo "         or watch data arrive locally: FSA_DEMO_RECEIVER=1 scripts/demo.sh"
fi
echo "Counters every 10 s below. Ctrl-C stops everything."
setsid build-release/fsagent --config "$WORK/config.yaml" &
AGENT_PID=$!
if [ -n "${FSA_DEMO_SECONDS:-}" ]; then
  sleep "$FSA_DEMO_SECONDS" &
  wait $! || true
  stop_all
else
  wait "$AGENT_PID" || true
fi
