#!/bin/sh
# install.sh: install casusd as a system service (Debian 12).
# Builds a release, installs the binaries to /usr/local, creates the casus user,
# /etc/casus and /var/lib/casus, and the systemd unit. It does not create keys:
# the root key is made offline by the functional administrator with casus-admin
# (see docs/OPERATIONS.md), and the TLS certificate comes from your PKI.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$(nproc)"
install -m 0755 build-release/server/casusd /usr/local/sbin/casusd
install -m 0755 build-release/client/casus build-release/client/casus-admin /usr/local/bin/
id casus >/dev/null 2>&1 || useradd --system --home /var/lib/casus --shell /usr/sbin/nologin casus
install -d -m 0750 -o root -g casus /etc/casus /etc/casus/certs /etc/casus/tls
install -d -m 0700 -o casus -g casus /var/lib/casus /var/lib/casus/data
[ -f /etc/casus/casusd.json ] || install -m 0640 -o root -g casus deploy/casusd.json /etc/casus/casusd.json
install -m 0644 deploy/casusd.service /etc/systemd/system/casusd.service
systemctl daemon-reload 2>/dev/null || true
echo "installed; put root.pub, policy.bin, TLS files and certificates in /etc/casus, then: systemctl enable --now casusd"
