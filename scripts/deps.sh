#!/usr/bin/env bash
# Installs what building (and with --test, testing) fsagent needs on a bare
# Debian 12, from Debian's own packages only. Idempotent: does nothing when
# everything is there. Waits for another apt/dpkg to finish instead of failing.
set -euo pipefail

PACKAGES=(
  cmake pkg-config gcc clang libclang-rt-14-dev python3
  liburing-dev libck-dev libjemalloc-dev libprotobuf-c-dev protobuf-c-compiler
  libnghttp2-dev libhiredis-dev libyaml-dev libh2o-evloop-dev libssl-dev zlib1g-dev
)
if [ "${1:-}" = "--test" ]; then
  # the store's tests start their own redis-server (and redis-sentinel) on free ports
  PACKAGES+=(redis-server valgrind)
  # the Redis TLS test makes its own CA and certificates with the openssl command
  PACKAGES+=(openssl)
  # the exporter tests' OTLP receiver runs on Node (grpc-js, pinned in tests/receiver)
  command -v node >/dev/null || PACKAGES+=(nodejs)
  command -v npm >/dev/null || PACKAGES+=(npm)
  # admin server tests: promtool checks /metrics, headless Chromium renders the status page
  PACKAGES+=(prometheus chromium)
  # packaging tests: systemd-analyze verify/security + systemd-sysusers, groff -mdoc
  # and man -l for fsagent(8), readelf, PyYAML for the deploy/ manifests
  PACKAGES+=(systemd groff-base man-db binutils python3-yaml)
  # the Debian package test: dpkg-shlibdeps (the .deb's Depends)
  PACKAGES+=(dpkg-dev)
fi
if [ "${1:-}" = "--package" ]; then
  PACKAGES+=(dpkg-dev)  # scripts/package-deb.sh: dpkg-shlibdeps computes the .deb's Depends
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# apt-get with the dpkg lock waited for (another apt, unattended-upgrades); the
# lists lock of `apt-get update` is not covered by that option, so that one is
# retried while, and only while, apt says the lock is held.
LOCK_WAIT_S=600
apt_get() {
  local deadline=$((SECONDS + LOCK_WAIT_S)) err
  err=$(mktemp)
  while :; do
    if $SUDO apt-get -o DPkg::Lock::Timeout=$LOCK_WAIT_S "$@" 2>"$err"; then
      cat "$err" >&2; rm -f "$err"; return 0
    fi
    cat "$err" >&2
    if grep -q "Could not get lock" "$err" && [ $SECONDS -lt $deadline ]; then
      echo "deps: apt is busy (another apt or dpkg runs); waiting" >&2
      sleep 5
      continue
    fi
    rm -f "$err"; return 1
  done
}

# Debian enables (and, under systemd, starts) a system service for some of these
# packages; the tests never use one (each starts its own redis-server on a free
# port, promtool is only a checker), so a machine set up here keeps none of
# them that it did not have before.
UNUSED_SERVICES=(redis-server redis-sentinel prometheus)
new_services=()
for svc in "${UNUSED_SERVICES[@]}"; do
  [ -e "/lib/systemd/system/$svc.service" ] || new_services+=("$svc")
done

apt_get update -q
apt_get install -y -q --no-install-recommends "${missing[@]}"

for svc in "${new_services[@]}"; do
  [ -e "/lib/systemd/system/$svc.service" ] || continue
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  else
    $SUDO systemctl disable "$svc.service" >/dev/null 2>&1 || true  # edits the links without a manager
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  fi
  echo "deps: $svc installed for the tests; its system service is stopped and disabled"
done
