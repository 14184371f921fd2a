#!/bin/sh
# install-deps.sh: every Debian 12 package casus needs to build, test and run.
# Idempotent; run as root (or with sudo available). Installs only what is missing.
set -eu
PKGS="build-essential cmake pkg-config clang libsodium-dev liblmdb-dev lmdb-utils libjansson-dev libev-dev \
libwebsockets-dev libssl-dev libncurses-dev openssl python3 python3-websockets tmux faketime"
# --- operations (issue 16): sd_notify (libsystemd-dev); the package (cpack DEB
# needs dpkg-shlibdeps from dpkg-dev and file); systemd-analyze for the unit's
# security score (systemd); setpriv and flock (util-linux) for the package test
# and restore.sh.
PKGS="$PKGS libsystemd-dev dpkg-dev file systemd util-linux"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
