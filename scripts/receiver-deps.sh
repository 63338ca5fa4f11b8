#!/usr/bin/env bash
# Installs the Node packages of the exporter tests' OTLP receiver
# (tests/receiver: @grpc/grpc-js, @grpc/proto-loader and the OTLP protos of
# @opentelemetry/otlp-grpc-exporter-base, pinned in package.json and, with
# integrity hashes, in package-lock.json) unless they are there already.
# Uses whatever npm registry npm is configured with. Safe to run from several
# tests at once: the first one installs, the others wait on the lock.
set -euo pipefail
cd "$(dirname "$0")/../tests/receiver"
if [ -f node_modules/.fsagent-ok ]; then
  exit 0
fi
exec 9>".install.lock"
flock 9
if [ -f node_modules/.fsagent-ok ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "receiver-deps: npm is not installed (Node 20 + npm are needed)" >&2; exit 1; }
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
else
  npm install --no-audit --no-fund --loglevel=error >&2
fi
touch node_modules/.fsagent-ok
