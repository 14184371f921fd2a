#!/bin/sh
# bench/run.sh: casus beside mosquitto and ejabberd, in one command.
#
#   bench/run.sh              full matrix, ROUNDS rounds (default 3, about 20 minutes)
#   QUICK=1 bench/run.sh      smoke run: one round, short runs (about 3 minutes)
#
# Installs what is missing with apt-get (mosquitto, ejabberd, gnuplot-nox,
# libmosquitto-dev, libstrophe-dev; needs root), builds casusd and casus-bench
# (-O2 -g), sets up a throw-away casus deployment, a private mosquitto 2.0 and a
# private ejabberd 23.01 on loopback, and runs for every round, interleaved:
#   casus (ws://, TLS off) -> mosquitto (MQTT 3.1.1 QoS 1) -> ejabberd (MUC + MAM)
#   -> casus (wss://, TLS on)
# each: flat out (one publisher, window 256) for 200 B and 1 KiB payloads and 10
# and 100 members, and an open-loop latency sweep (fixed rates, 1 KiB, 10
# members). fdatasync latency and the load average are recorded per round. The
# last step holds 10,000 idle TLS connections to casusd (memory) while 200
# msg/s flow. All raw output goes to bench/results/<stamp>/raw.txt; then
# bench/summarise.py writes the medians, ratios and the plot into
# bench/results/<stamp>/ and the generated section of bench/RESULTS.md.
#
# Environment: ROUNDS, QUICK=1, BUILD (default build-bench), NOBUILD=1,
#   FLAT_S (seconds of each flat-out run), LAT_S (seconds per latency point),
#   RATES (latency sweep, msg/s), CONNS (idle TLS connections), KEEP=1 (keep state),
#   ONLY="casus mosquitto ejabberd casus-tls" (systems per round), NOCONN=1 (no connections step).
# Not part of the test command (tests/run.sh); the bench is opt-in.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  ROUNDS=${ROUNDS:-1}; FLAT_S=${FLAT_S:-3}; LAT_S=${LAT_S:-2}; RATES=${RATES:-"500 2000"}
  MEMBERS=${MEMBERS:-"10"}; CONNS=${CONNS:-2000}
else
  ROUNDS=${ROUNDS:-3}; FLAT_S=${FLAT_S:-6}; LAT_S=${LAT_S:-4}
  RATES=${RATES:-"50 200 500 1000 2000 4000 8000"}; MEMBERS=${MEMBERS:-"10 100"}; CONNS=${CONNS:-10000}
fi
SIZES=${SIZES:-"200 1024"}
PORT=${PORT:-18443}
MQPORT=${MQPORT:-18883}
XPORT=${XPORT:-15222}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
SUFFIX=; [ "$QUICK" != 1 ] || SUFFIX=-quick
OUTDIR=${OUTDIR:-$ROOT/bench/results/$STAMP$SUFFIX}
mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.txt
: > "$RAW"
log() { echo "$*" | tee -a "$RAW"; }

# ---- dependencies (Debian packages) -------------------------------------------------
need=
command -v mosquitto >/dev/null 2>&1 || need="$need mosquitto"
command -v ejabberdctl >/dev/null 2>&1 || need="$need ejabberd"
command -v gnuplot >/dev/null 2>&1 || need="$need gnuplot-nox"
[ -f /usr/include/mosquitto.h ] || need="$need libmosquitto-dev"
[ -f /usr/include/strophe.h ] || need="$need libstrophe-dev"
if [ -n "$need" ]; then
  echo "installing:$need"
  # the packages' services are not started (policy-rc.d); the bench runs its own instances
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need >/dev/null
fi

if [ "${NOBUILD:-0}" != 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASUS_WEB=OFF >/dev/null
  nice -n 5 cmake --build "$BUILD" -j2 --target casusd casus casus-admin casus-bench >/dev/null
fi
ADMIN="$BUILD/client/casus-admin"
CASUS="$BUILD/client/casus"
BENCH="$BUILD/bench/casus-bench"
CASUSD="$BUILD/server/casusd"

STATE=$(mktemp -d /tmp/casus-bench-XXXXXX)
chmod 755 "$STATE"
SRV_PID=
EJ="ejabberdctl -d $STATE/ej -c $STATE/ej/ejabberdctl.cfg -f $STATE/ej/ejabberd.yml -s $STATE/ej/db -l $STATE/ej/log -n casusbench@localhost"
stop_srv() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  SRV_PID=
}
cleanup() {
  stop_srv
  [ -d "$STATE/ej" ] && $EJ stop >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

# ---- casus deployment ---------------------------------------------------------------
printf 'bench\n' > "$STATE/passphrase"
export CASUS_PASSPHRASE_FILE="$STATE/passphrase" CASUS_ADMIN_FAST_KDF=1
"$ADMIN" root-init --keystore "$STATE/root.casusks" --pub "$STATE/root.pub" >/dev/null
"$ADMIN" sign-policy --keystore "$STATE/root.casusks" --policy "$ROOT/deploy/policy/default.json" \
  --out "$STATE/policy.bin" >/dev/null
"$ADMIN" revlist-init --keystore "$STATE/root.casusks" --out "$STATE/revocations.bin" >/dev/null
ROOTHEX=$(cat "$STATE/root.pub")
mkdir -p "$STATE/users" "$STATE/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$STATE/tls.key" -out "$STATE/tls.crt" 2>/dev/null
# bs0 posts; br0..br9 are the receiving member devices (100 members: each opens
# 10 connections); bi0..bi9 are idle devices in no casus (connections step).
mk_user() {
  P="$STATE/users/$1"
  "$CASUS" --profile "$P" init --server "ws://127.0.0.1:$PORT" --root "$ROOTHEX" \
    --user "$1" --role "$2" --name "Bench $1" --org "Bench" >/dev/null
  "$ADMIN" certify --keystore "$STATE/root.casusks" --request "$P/request.casusreq" --out "$P/device.cert" --yes >/dev/null 2>&1
  "$CASUS" --profile "$P" install-cert "$P/device.cert" >/dev/null
  cp "$P/device.cert" "$STATE/certs/$1.cert"
}
mk_user bs0 casemanager
for i in 0 1 2 3 4 5 6 7 8 9; do
  case $i in 0|1|2) r=ggd ;; 3|4|5) r=ervaringsdeskundige ;; *) r=casemanager ;; esac
  mk_user "br$i" "$r"
  mk_user "bi$i" ggd
done
# the sender's profile names the server; switched between ws:// and wss:// per run
set_sender_url() {
  python3 - "$STATE/users/bs0/profile.json" "$1" "$STATE/tls.crt" <<'PY'
import json, sys
p, url, ca = sys.argv[1:4]
d = json.load(open(p))
d["server"] = url
if url.startswith("wss:"):
    d["ca"] = ca
else:
    d.pop("ca", None)
json.dump(d, open(p, "w"))
PY
}

# Bench limits: 10 bench devices stand for thousands of users, so the per-session
# request rate and per-device connection caps are raised; everything else default.
casusd_config() {  # $1 = true|false (TLS)
  cat > "$STATE/casusd.json" <<JSON
{
  "listen": "127.0.0.1", "port": $PORT, "tls": $1, "tls_cert": "$STATE/tls.crt", "tls_key": "$STATE/tls.key",
  "metrics_port": $((PORT + 1)),
  "data_dir": "$STATE/data", "root_pub": "$STATE/root.pub", "policy": "$STATE/policy.bin",
  "revocations": "$STATE/revocations.bin", "certs_dir": "$STATE/certs", "log_level": "warn",
  "limits": {"req_per_s": 1000000, "req_burst": 1000000, "conn_per_device": 20000,
             "max_connections": 20000, "conn_per_addr": 20000, "ping_s": 10, "hangup_s": 30}
}
JSON
}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
start_casusd() {  # $1 = true|false (TLS)
  casusd_config "$1"
  "$CASUSD" --config "$STATE/casusd.json" 2>>"$STATE/casusd.log" &
  SRV_PID=$!
  i=0
  until curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "casusd did not start"; cat "$STATE/casusd.log"; exit 1; }
    sleep 0.1
  done
  if [ "$1" = true ]; then URL="wss://127.0.0.1:$PORT"; else URL="ws://127.0.0.1:$PORT"; fi
  set_sender_url "$URL"
}

# ---- peers: private instances ----------------------------------------------------------
start_mosquitto() {
  mkdir -p "$STATE/mq"
  cat > "$STATE/mq/mosquitto.conf" <<EOF
# mosquitto 2.0 defaults, except: loopback listener, anonymous clients, persistence
# on (its in-memory store is written to disk on autosave and at exit, no fsync per
# message), and no cap on queued QoS 1 messages per client (a cap drops messages).
listener $MQPORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $STATE/mq/
user root
max_queued_messages 0
log_dest stderr
log_type error
EOF
  mosquitto -c "$STATE/mq/mosquitto.conf" 2>>"$STATE/mq/log" &
  SRV_PID=$!
  i=0
  until python3 -c "import socket; socket.create_connection(('127.0.0.1', $MQPORT), 1).close()" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "mosquitto did not start"; cat "$STATE/mq/log"; exit 1; }
    sleep 0.1
  done
  URL="mqtt://127.0.0.1:$MQPORT"
}
EJ_STARTED=0
start_ejabberd() {
  if [ "$EJ_STARTED" = 0 ]; then
    mkdir -p "$STATE/ej/db" "$STATE/ej/log"
    cp /etc/ejabberd/inetrc "$STATE/ej/"
    printf 'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nEJABBERD_PID_PATH=%s/ej/ejabberd.pid\n' "$STATE" \
      > "$STATE/ej/ejabberdctl.cfg"
    cat > "$STATE/ej/ejabberd.yml" <<EOF
# ejabberd 23.01 for the bench: plain c2s on loopback (no TLS, as casus' plain run),
# SASL ANONYMOUS (no accounts to create), no traffic shaper, MUC rooms persistent
# with the MAM archive on (mnesia, ejabberd's default backend).
hosts: [localhost]
loglevel: warning
hide_sensitive_log_data: true
listen:
  - {port: $XPORT, ip: "127.0.0.1", module: ejabberd_c2s, max_stanza_size: 262144, shaper: none, access: all, starttls: false}
auth_method: [anonymous]
anonymous_protocol: sasl_anon
allow_multiple_connections: true
access_rules:
  local: {allow: all}
  c2s: {allow: all}
shaper: {}
shaper_rules: {}
modules:
  mod_disco: {}
  mod_mam: {db_type: mnesia, default: always}
  mod_muc:
    access: all
    access_create: all
    access_persistent: all
    access_mam: all
    history_size: 0
    max_users: 1000
    max_users_presence: 1000
    max_user_conferences: 1000
    default_room_options: {mam: true, persistent: true, max_users: 1000}
EOF
    chown -R ejabberd "$STATE/ej"
    $EJ start >/dev/null
    i=0
    until $EJ status >/dev/null 2>&1; do
      i=$((i + 1)); [ $i -lt 120 ] || { echo "ejabberd did not start"; tail "$STATE/ej/log/"*.log; exit 1; }
      sleep 0.5
    done
    EJ_STARTED=1
  fi
  SRV_PID=
  EJ_PID=$(cat "$STATE/ej/ejabberd.pid" 2>/dev/null || pgrep -f 'beam.*casusbench' | head -1)
  URL="xmpp://127.0.0.1:$XPORT"
}

# ---- measurements --------------------------------------------------------------------
fsync_probe() {  # fdatasync of one 4 KiB page, 200 times, in the state folder (same disk as the stores)
  python3 - "$STATE/fsync.probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
t = []
for i in range(200):
    os.pwrite(fd, os.urandom(4096), (i % 16) * 4096)
    t0 = time.perf_counter(); os.fdatasync(fd); t.append((time.perf_counter() - t0) * 1000)
os.close(fd); os.unlink(sys.argv[1])
t.sort()
print("FSYNC p50=%.3f p90=%.3f p99=%.3f max=%.3f" % (t[100], t[180], t[198], t[199]))
PY
}
ROUND=0
bench() {  # system label, then casus-bench arguments
  sys=$1; shift
  log "# round=$ROUND system=$sys load=$(cut -d' ' -f1-3 /proc/loadavg) \$ casus-bench $*"
  "$BENCH" "$@" 2>>"$OUTDIR/bench-stderr.txt" | sed "s/^RESULT /RESULT round=$ROUND label=$sys /" >"$STATE/last.txt" || true
  cat "$STATE/last.txt" >>"$RAW"
  grep '^RESULT' "$STATE/last.txt" | cut -c1-150 || log "FAILED round=$ROUND system=$sys: $*"
}
# flat-out msg/s of this round per label, to skip latency points above 2x capacity
flat_rate() {  # label
  grep "^RESULT round=$ROUND label=$1 .*mode=throughput members=10 size=1024 " "$RAW" | tail -1 |
    sed 's/.* msg_s=\([0-9.]*\).*/\1/' | cut -d. -f1
}
sweep() {  # label, then system arguments
  lab=$1; shift
  cap=$(flat_rate "$lab"); cap=${cap:-0}
  for r in $RATES; do
    # 2,000 msg/s always runs (the latency target); other overloaded points would only queue
    if [ "$r" != 2000 ] && [ "$cap" -gt 0 ] && [ "$r" -gt $((cap * 2)) ]; then
      log "SKIP round=$ROUND label=$lab rate=$r (flat out was $cap msg/s: more than 2x overloaded)"
      continue
    fi
    bench "$lab" latency "$@" --size 1024 --rate "$r" --seconds "$LAT_S"
  done
}
run_casus() {  # label, TLS true|false
  lab=$1
  start_casusd "$2"
  CA=; [ "$2" = true ] && CA="--ca $STATE/tls.crt"
  for m in $MEMBERS; do
    for s in $SIZES; do
      n=$(( m == 10 ? FLAT_S * 6000 : FLAT_S * 1500 ))
      # shellcheck disable=SC2086
      bench "$lab" throughput --url "$URL" $CA --state "$STATE" --pid "$SRV_PID" --senders 1 --casus 1 --window 256 \
        --recv-conns $((m / 10)) --size "$s" --messages "$n" --max-seconds "$FLAT_S"
    done
  done
  # shellcheck disable=SC2086
  sweep "$lab" --url "$URL" $CA --state "$STATE" --pid "$SRV_PID" --senders 1 --casus 1
  stop_srv
}
run_mqtt() {
  start_mosquitto
  for m in $MEMBERS; do
    for s in $SIZES; do
      bench mosquitto throughput --url "$URL" --pid "$SRV_PID" --window 256 --members "$m" --size "$s" \
        --messages 1000000 --max-seconds "$FLAT_S"
    done
  done
  sweep mosquitto --url "$URL" --pid "$SRV_PID" --members 10
  stop_srv
}
run_xmpp() {
  start_ejabberd
  for m in $MEMBERS; do
    for s in $SIZES; do
      bench ejabberd throughput --url "$URL" --room "r$ROUND-$m-$s@conference.localhost" --pid "$EJ_PID" \
        --window 256 --members "$m" --size "$s" --messages 1000000 --max-seconds "$FLAT_S"
    done
  done
  log "EJROOM $($EJ get_room_options "r$ROUND-10-200" conference.localhost 2>&1 | grep -E '^(mam|persistent)' | tr '\t\n' '= ')"
  sweep ejabberd --url "$URL" --room "lat$ROUND@conference.localhost" --pid "$EJ_PID" --members 10
}

{
  echo "MACHINE nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' | tr ' ' '_')"
  echo "MACHINE kernel=$(uname -sr | tr ' ' '_') mem_mib=$(( $(grep MemTotal /proc/meminfo | awk '{print $2}') / 1024 ))"
  echo "MACHINE commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') quick=$QUICK rounds=$ROUNDS flat_s=$FLAT_S lat_s=$LAT_S"
  echo "MACHINE mosquitto=$(dpkg-query -W -f='${Version}' mosquitto) ejabberd=$(dpkg-query -W -f='${Version}' ejabberd) lws=$(dpkg-query -W -f='${Version}' libwebsockets-dev 2>/dev/null || echo '?')"
  echo "LOAD start $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$RAW"
ROUND=1
while [ "$ROUND" -le "$ROUNDS" ]; do
  log "ROUND $ROUND $(date -u +%H:%M:%S) LOAD $(cut -d' ' -f1-3 /proc/loadavg) $(fsync_probe)"
  for lab in ${ONLY:-casus mosquitto ejabberd casus-tls}; do
    case $lab in
      casus) run_casus casus false ;;
      mosquitto) run_mqtt ;;
      ejabberd) run_xmpp ;;
      casus-tls) run_casus casus-tls true ;;
    esac
  done
  ROUND=$((ROUND + 1))
done
ROUND=0
# 10,000 idle TLS connections: casusd's memory, with 200 msg/s flowing to 10 members
[ "${NOCONN:-0}" = 1 ] || { start_casusd true
bench casus-tls connections --url "$URL" --ca "$STATE/tls.crt" --state "$STATE" --pid "$SRV_PID" --senders 1 \
  --casus 1 --conns "$CONNS" --connect-seconds 400 --rate 200 --seconds "$LAT_S" --size 1024
stop_srv; }
log "LOAD end $(cut -d' ' -f1-3 /proc/loadavg) $(fsync_probe)"
python3 "$ROOT/bench/summarise.py" "$OUTDIR" "$ROOT/bench/RESULTS.md"
echo "results: $OUTDIR and bench/RESULTS.md"
