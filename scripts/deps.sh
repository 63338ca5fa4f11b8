#!/usr/bin/env bash
# Installs what building and testing fsagent needs on Debian 12, from Debian's
# own packages only. Idempotent: does nothing when everything is there.
set -euo pipefail

PACKAGES=(
  cmake pkg-config gcc clang libclang-rt-14-dev python3
  liburing-dev libck-dev libjemalloc-dev libprotobuf-c-dev protobuf-c-compiler
  libnghttp2-dev libhiredis-dev libyaml-dev libh2o-evloop-dev libssl-dev zlib1g-dev
  redis-server
)
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(valgrind)  # Node 20 and npm come with the machine image
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
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
