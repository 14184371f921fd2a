#!/bin/sh
# bench/run.sh [OUT]: build casusd and casus-bench (optimised, -O2 -g), set up a
# throw-away deployment on loopback, start casusd, run the three benchmark modes
# (throughput, latency, connections) and write everything to OUT
# (default bench/results/<UTC time>.txt). Stops by itself; loopback only.
#
# Environment: BUILD (default build-bench), PORT (default 18443),
#   TP_ARGS / LAT_ARGS / CONN_ARGS to override each mode's arguments,
#   KEEP=1 to keep the state folder.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
PORT=${PORT:-18443}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${1:-$ROOT/bench/results/$STAMP.txt}
mkdir -p "$(dirname "$OUT")"

# RelWithDebInfo = -O2 -g: optimised, with symbols for perf.
if [ "${NOBUILD:-0}" != 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  make -C "$BUILD" -j2 casusd casus casus-admin casus-bench >/dev/null
fi
TOOLS=${TOOLS:-$BUILD}   # where casus, casus-admin and casus-bench come from

STATE=$(mktemp -d /tmp/casus-bench-XXXXXX)
CASUSD_PID=
cleanup() {
  if [ -n "$CASUSD_PID" ] && kill -0 "$CASUSD_PID" 2>/dev/null; then
    kill -TERM "$CASUSD_PID" 2>/dev/null || true
    wait "$CASUSD_PID" 2>/dev/null || true
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

ADMIN="$TOOLS/client/casus-admin"
CASUS="$TOOLS/client/casus"
BENCH="$TOOLS/bench/casus-bench"
printf 'bench\n' > "$STATE/passphrase"
export CASUS_PASSPHRASE_FILE="$STATE/passphrase" CASUS_ADMIN_FAST_KDF=1
"$ADMIN" root-init --keystore "$STATE/root.casusks" --pub "$STATE/root.pub" >/dev/null
"$ADMIN" sign-policy --keystore "$STATE/root.casusks" --policy "$ROOT/deploy/policy/default.json" \
  --out "$STATE/policy.bin" >/dev/null
"$ADMIN" revlist-init --keystore "$STATE/root.casusks" --out "$STATE/revocations.bin" >/dev/null
ROOTHEX=$(cat "$STATE/root.pub")
mkdir -p "$STATE/users" "$STATE/certs"
# bs0 posts (casemanager may create casus); br0..br9 are the 10 receiving
# members; bi0..bi9 are idle devices for the connections mode (in no casus).
mk_user() {
  P="$STATE/users/$1"
  "$CASUS" --profile "$P" init --server "ws://127.0.0.1:$PORT" --root "$ROOTHEX" \
    --user "$1" --role "$2" --name "Bench $1" --org "Bench" >/dev/null
  "$ADMIN" certify --keystore "$STATE/root.casusks" --request "$P/request.casusreq" --out "$P/device.cert" --yes >/dev/null
  "$CASUS" --profile "$P" install-cert "$P/device.cert" >/dev/null
  cp "$P/device.cert" "$STATE/certs/$1.cert"
}
mk_user bs0 casemanager
for i in 0 1 2 3 4 5 6 7 8 9; do
  case $i in 0|1|2) r=ggd ;; 3|4|5) r=ervaringsdeskundige ;; *) r=casemanager ;; esac
  mk_user "br$i" "$r"
  mk_user "bi$i" ggd
done

# Bench limits: the 10 bench devices stand for thousands of users, so the
# per-session request rate and per-device connection caps are raised; every
# other limit (frame caps, send queue 4096, auth timeout) is the default.
cat > "$STATE/casusd.json" <<JSON
{
  "listen": "127.0.0.1", "port": $PORT, "tls": false, "metrics_port": $((PORT + 1)),
  "data_dir": "$STATE/data", "root_pub": "$STATE/root.pub", "policy": "$STATE/policy.bin",
  "revocations": "$STATE/revocations.bin", "certs_dir": "$STATE/certs", "log_level": "warn",
  "limits": {"req_per_s": 1000000, "req_burst": 1000000, "conn_per_device": 20000,
             "max_connections": 20000, "conn_per_addr": 20000, "ping_s": 10, "hangup_s": 30}
}
JSON
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
"$BUILD/server/casusd" --config "$STATE/casusd.json" 2>"$STATE/casusd.log" &
CASUSD_PID=$!
i=0
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "casusd did not start"; cat "$STATE/casusd.log"; exit 1; }
  sleep 0.1
done

URL="ws://127.0.0.1:$PORT"
TP_ARGS=${TP_ARGS:---senders 4 --window 256 --casus 8 --messages 200000}
LAT_ARGS=${LAT_ARGS:---senders 2 --window 256 --casus 4 --rate 2000 --seconds 15}
CONN_ARGS=${CONN_ARGS:---conns 10000 --senders 2 --window 256 --casus 4 --rate 2000 --seconds 20}
{
  echo "# casus-bench run $STAMP (casusd from ${BUILD#"$ROOT"/}, tools from ${TOOLS#"$ROOT"/})"   # paths relative to the repository
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -srm)"
  echo "load before: $(cat /proc/loadavg)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "\$ casus-bench throughput $TP_ARGS"
  "$BENCH" throughput --url "$URL" --state "$STATE" --pid "$CASUSD_PID" $TP_ARGS
  echo
  echo "\$ casus-bench latency $LAT_ARGS"
  "$BENCH" latency --url "$URL" --state "$STATE" --pid "$CASUSD_PID" $LAT_ARGS
  echo
  echo "\$ casus-bench connections $CONN_ARGS"
  "$BENCH" connections --url "$URL" --state "$STATE" --pid "$CASUSD_PID" $CONN_ARGS
  echo
  echo "metrics after:"
  curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | grep -v '^#'
  echo "load after: $(cat /proc/loadavg)"
} 2>&1 | tee "$OUT"

kill -TERM "$CASUSD_PID"
if wait "$CASUSD_PID"; then echo "casusd stopped cleanly on SIGTERM" | tee -a "$OUT"; else
  echo "casusd exit status $? on SIGTERM" | tee -a "$OUT"; fi
CASUSD_PID=
echo "results: $OUT"
