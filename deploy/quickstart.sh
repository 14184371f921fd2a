#!/bin/sh
# deploy/quickstart.sh: set up and start casus on an embedded default (the
# README's command one). Installs missing Debian packages, builds, creates a
# development deployment under ./state (root key, signed default policy, TLS
# certificate for localhost, demo users) and runs casusd on
# wss://localhost:PORT in the foreground. Ctrl-C stops it; run it again to
# restart with the same data.
#
#   deploy/quickstart.sh [--port N] [--state DIR] [--no-build]
#
# The port comes from --port, else CASUS_PORT, else 8443. It is checked first:
# if something already listens there the script says so and stops, before
# anything is installed, built or announced. When the port differs from the
# one state/ was set up with, state/ is rewritten to match (casusd.json and
# every demo profile's server address), so the banner, the server and the
# profiles always name the same port. --no-build uses the existing build
# (CASUS_BUILD, else ./build) and installs nothing (for tests and for a
# second start). --state puts the deployment elsewhere (default ./state).
set -eu
cd "$(dirname "$0")/.."
PORT=${CASUS_PORT:-8443}
STATE=$(pwd)/state
BUILD=${CASUS_BUILD:-$(pwd)/build}
NOBUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || { echo "quickstart: --port needs a number" >&2; exit 2; }; PORT=$2; shift 2 ;;
    --port=*) PORT=${1#--port=}; shift ;;
    --state) [ $# -ge 2 ] || { echo "quickstart: --state needs a folder" >&2; exit 2; }; STATE=$2; shift 2 ;;
    --state=*) STATE=${1#--state=}; shift ;;
    --no-build) NOBUILD=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PORT" in
  ''|*[!0-9]*) echo "quickstart: poort/port \"$PORT\" is geen getal / is not a number (1..65535)" >&2; exit 2 ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "quickstart: poort/port $PORT ligt niet tussen 1 en 65535 / is not between 1 and 65535" >&2
  exit 2
fi
case "$STATE" in /*) ;; *) STATE=$(pwd)/$STATE ;; esac

# 1. the port, before anything else: something answering there means it is taken
if timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
  cat >&2 <<MSG
quickstart: poort $PORT is bezet: er luistert al een programma op 127.0.0.1:$PORT.
            Stop dat programma of kies een andere poort.
quickstart: port $PORT is taken: a program already listens on 127.0.0.1:$PORT.
            Stop it or choose another port, e.g.:
  CASUS_PORT=8444 ./deploy/quickstart.sh      or      ./deploy/quickstart.sh --port 8444
MSG
  exit 1
fi

# 2. packages and the build, with progress
if [ "$NOBUILD" = 0 ]; then
  echo "quickstart: [1/3] Debian-pakketten / Debian packages (deploy/install-deps.sh)"
  ./deploy/install-deps.sh
  echo "quickstart: [2/3] bouwen / building in $BUILD (a first build takes a few minutes)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  # cmake's own progress ([ 42%] ...) shows how far the build is; the whole
  # output goes to a log that is shown when the build fails
  LOG=$BUILD/quickstart-build.log
  { cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" 2>&1; echo $? >"$LOG.rc"; } | tee "$LOG" |
    grep --line-buffered -E '^\[ *[0-9]+%\]' | sed -u 's/^/  /' || true
  if [ "$(cat "$LOG.rc" 2>/dev/null)" != 0 ]; then
    tail -n 30 "$LOG" >&2
    echo "quickstart: de build is mislukt / the build failed (whole output: $LOG)" >&2
    exit 1
  fi
fi
for f in server/casusd client/casus client/casus-admin; do
  [ -x "$BUILD/$f" ] || { echo "quickstart: $BUILD/$f is missing: build first (without --no-build)" >&2; exit 1; }
done

# 3. the deployment in state/, on this port
echo "quickstart: [3/3] ontwikkelomgeving / development deployment in $STATE"
CASUS_PORT=$PORT ./deploy/dev-setup.sh "$STATE" "$BUILD"
# casusd does not start without a signed revocation list (docs/OPERATIONS.md);
# a state/ made before that rule gets an empty list now
if ! grep -q '"revocations"' "$STATE/casusd.json"; then
  echo "quickstart: $STATE has no revocation list; creating an empty one"
  [ -f "$STATE/revocations.bin" ] ||
    CASUS_PASSPHRASE_FILE="$STATE/demo-passphrase" CASUS_ADMIN_FAST_KDF=1 \
      "$BUILD/client/casus-admin" revlist-init --keystore "$STATE/root.casusks" --out "$STATE/revocations.bin" >/dev/null
  tmp="$STATE/casusd.json.tmp"
  sed "s#^\( *\)\"policy\": *\(\"[^\"]*\"\),#&\n\1\"revocations\": \"$STATE/revocations.bin\",#" "$STATE/casusd.json" >"$tmp" &&
    mv "$tmp" "$STATE/casusd.json"
fi
OLD=$(sed -n 's/^ *"port": *\([0-9][0-9]*\).*/\1/p' "$STATE/casusd.json" | head -n 1)
if [ "$OLD" != "$PORT" ]; then
  echo "quickstart: $STATE was set up for port ${OLD:-?}; rewriting it for port $PORT"
  tmp="$STATE/casusd.json.tmp"
  sed "s/^\( *\"port\": *\)[0-9][0-9]*/\1$PORT/" "$STATE/casusd.json" >"$tmp" && mv "$tmp" "$STATE/casusd.json"
  for p in "$STATE"/users/*/profile.json "$STATE"/browser/*/profile.json; do
    [ -f "$p" ] || continue
    sed "s#\"wss://localhost:[0-9]*\"#\"wss://localhost:$PORT\"#" "$p" >"$p.tmp" && chmod 600 "$p.tmp" &&
      mv "$p.tmp" "$p"
  done
fi

cat <<MSG

casus is starting on wss://localhost:$PORT (development certificate, LMDB in $STATE/data).
Demo users: anna (casemanager), esther (ervaringsdeskundige), gijs (ggd),
            paula (procesregisseur), peter (politie), fenna (fg: audit only).
In a second terminal:

  export CASUS_PASSPHRASE_FILE=$STATE/demo-passphrase PATH=$BUILD/client:\$PATH
  casus --profile $STATE/users/anna new --title "Mevrouw A." --purpose "Zorgcoordinatie" \\
        --basis "Wmo 2015" --member esther --member gijs
  casus --profile $STATE/users/anna list
  casus --profile $STATE/users/anna open CASUS        # live case conference (a unique id prefix will do)
  casus --profile $STATE/users/gijs open CASUS        # ... and a second participant
  casus help                                          # every command and exit code

The web client (if it was built, docs/WEB.md): https://localhost:$PORT/ (development
certificate: accept it once). Under "Of: een bestaand profiel gebruiken" pick
$STATE/browser/bente/keys.casusks (or pieter), deployment key $(cat "$STATE/root.pub"),
passphrase demo; add bente with: casus --profile $STATE/users/anna add CASUS bente

MSG
exec "$BUILD/server/casusd" --config "$STATE/casusd.json"
