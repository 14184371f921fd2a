#!/bin/sh
# install-deps.sh: every Debian 12 package casus needs to build, test and run.
# Idempotent; run as root (or with sudo available). Installs only what is missing.
set -eu
PKGS="build-essential cmake pkg-config clang libsodium-dev liblmdb-dev lmdb-utils libjansson-dev libev-dev \
libwebsockets-dev libssl-dev libncurses-dev openssl python3 python3-websockets tmux faketime"
# --- cluster mode (issue 18, docs/SCALING.md): the NATS server and its C client
PKGS="$PKGS nats-server libnats-dev"
# --- operations (issue 16): sd_notify (libsystemd-dev); the package (cpack DEB
# needs dpkg-shlibdeps from dpkg-dev and file); systemd-analyze for the unit's
# security score (systemd); setpriv and flock (util-linux) for the package test
# and restore.sh.
PKGS="$PKGS libsystemd-dev dpkg-dev file systemd util-linux"

# --- web client + wasm tests (client/web, docs/WEB.md) ------------------------
# emscripten compiles crypto/ to wasm; libsodium and jansson for wasm are built
# from Debian's own source packages (apt-get source: a deb-src line for
# bookworm main, dpkg-dev, and autotools because the sources ship no configure);
# Debian's chromium runs the browser test; node + npm run emcc, esbuild and
# playwright-core (npm's own copy if node came with one).
PKGS="$PKGS emscripten chromium nodejs dpkg-dev autoconf automake libtool"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
need_update=""
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  SRCLIST=/etc/apt/sources.list.d/casus-src.sources
  echo "install-deps: adding a deb-src line for bookworm main ($SRCLIST)"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
    { [ "$(id -u)" -eq 0 ] && tee "$SRCLIST" || sudo tee "$SRCLIST"; } >/dev/null
  need_update=1
fi
# --- end web client

# the test command's checks (tests/run.sh): layout, static analysis, libFuzzer runtime
PKGS="$PKGS clang-format cppcheck libclang-rt-14-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -z "$missing" ]; then
  [ -z "$need_update" ] || $SUDO apt-get update -q   # for apt-get source (web client)
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
