#!/usr/bin/env bash
# Builds the Debian package for bare metal and prints its path:
#   scripts/package-deb.sh          -> build-deb/fsagent_<version>_amd64.deb
# A plain Release build of its own (jemalloc, no sanitizer) whose component
# fsagent CPack's DEB generator packs (deploy/debian/CPackDeb.cmake):
# /usr/bin/fsagent, /etc/fsagent/config.yaml (conffile), the systemd unit, the
# sysusers.d entry, fsagent(8); Depends computed by dpkg-shlibdeps.
# Then: sudo apt-get install ./build-deb/fsagent_<version>_amd64.deb
# FSA_DEB_BUILD_DIR picks another build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FSA_DEB_BUILD_DIR:-build-deb}

scripts/deps.sh --package
cmake -S . -B "$DIR" -DCMAKE_BUILD_TYPE=Release -DFSA_SANITIZE= -DFSA_FUZZ=OFF >"$DIR.configure.log" 2>&1 ||
  { cat "$DIR.configure.log"; exit 1; }
cmake --build "$DIR" -j"$(nproc)"
rm -f "$DIR"/fsagent_*.deb
cpack -G DEB --config "$DIR/CPackConfig.cmake" -B "$DIR" >"$DIR.cpack.log" 2>&1 || { cat "$DIR.cpack.log"; exit 1; }
deb=$(echo "$DIR"/fsagent_*.deb)
dpkg-deb -f "$deb" Package Version Architecture Depends
echo "$deb"
