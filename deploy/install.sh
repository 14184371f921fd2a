#!/bin/sh
# install.sh [casus_VERSION_ARCH.deb]: install casus on a Debian 12 server from
# its package. No compilers and no test tools on the server: the package is
# built elsewhere (docs/OPERATIONS.md "Install"):
#
#   ./deploy/install-deps.sh                      # on the build machine
#   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCASUS_WEB=OFF
#   cmake --build build-release -j2 && (cd build-release && cpack -G DEB)
#
# Without an argument it takes the newest build-release/casus_*.deb. apt-get
# pulls the run-time libraries the package names. The package creates the
# casus user, /etc/casus, /var/lib/casus and /var/backups/casus, and installs
# the systemd units; it starts nothing. It does not create keys: the root key
# is made offline by the functional administrator with casus-admin, and the
# TLS certificate comes from your PKI.
set -eu
cd "$(dirname "$0")/.."
DEB=${1:-$(ls -1t build-release/casus_*.deb 2>/dev/null | head -n 1)}
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
  echo "install.sh: no package; build one with: cmake --build build-release && (cd build-release && cpack -G DEB)" >&2
  exit 2
fi
case "$DEB" in /*) ;; *) DEB="./$DEB" ;; esac
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get install -y "$DEB"
echo "installed; put root.pub, policy.bin, revocations.bin (casus-admin revlist-init), TLS files and certificates in /etc/casus, check with"
echo "  casusd --config /etc/casus/casusd.json --check-config"
echo "then: systemctl enable --now casusd casus-backup.timer"
