#!/bin/sh
# deploy/quickstart.sh: set up and start casus on an embedded default (the
# README's command one). Installs missing Debian packages, builds, creates a
# development deployment under ./state (root key, signed default policy, TLS
# certificate for localhost, demo users) and runs casusd on wss://localhost:8443
# in the foreground. Ctrl-C stops it; run it again to restart with the same data.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
STATE=$(pwd)/state
./deploy/dev-setup.sh "$STATE" "$(pwd)/build"
cat <<MSG

casus is starting on wss://localhost:8443 (development certificate, LMDB in state/data).
Demo users: anna (casemanager), esther (ervaringsdeskundige), gijs (ggd),
            paula (procesregisseur), peter (politie), fenna (fg: audit only).
In a second terminal:

  export CASUS_PASSPHRASE_FILE=$STATE/demo-passphrase PATH=$(pwd)/build/client:\$PATH
  casus --profile $STATE/users/anna new --title "Mevrouw A." --purpose "Zorgcoordinatie" \\
        --basis "Wmo 2015" --member esther --member gijs
  casus --profile $STATE/users/anna list
  casus --profile $STATE/users/anna open CASUS        # live case conference
  casus --profile $STATE/users/gijs open CASUS        # ... and a second participant

The web client (if it was built, docs/WEB.md): https://localhost:8443/ (development
certificate: accept it once). Under "Of: een bestaand profiel gebruiken" pick
$STATE/browser/bente/keys.casusks (or pieter), deployment key $(cat "$STATE/root.pub"),
passphrase demo; add bente with: casus --profile $STATE/users/anna add CASUS bente

MSG
exec ./build/server/casusd --config "$STATE/casusd.json"
