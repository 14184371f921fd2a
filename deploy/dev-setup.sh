#!/bin/sh
# dev-setup.sh STATE BUILD: an embedded development deployment under STATE:
# a root key, the default policy signed by it, a development TLS certificate
# for localhost, a casusd config, and demo users with certified devices.
# DEVELOPMENT ONLY: the demo passphrase is in STATE/demo-passphrase.
set -eu
STATE=${1:-state}
BUILD=${2:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ADMIN="$BUILD/client/casus-admin"
CASUS="$BUILD/client/casus"
PORT=${CASUS_PORT:-8443}
if [ -f "$STATE/casusd.json" ]; then
  echo "dev-setup: $STATE already set up"
  exit 0
fi
mkdir -p "$STATE" && chmod 700 "$STATE"
printf 'demo\n' > "$STATE/demo-passphrase"
chmod 600 "$STATE/demo-passphrase"
export CASUS_PASSPHRASE_FILE="$STATE/demo-passphrase"
export CASUS_ADMIN_FAST_KDF=1

"$ADMIN" root-init --keystore "$STATE/root.casusks" --pub "$STATE/root.pub" >/dev/null
"$ADMIN" sign-policy --keystore "$STATE/root.casusks" --policy "$ROOT/deploy/policy/default.json" \
  --out "$STATE/policy.bin" >/dev/null
# casusd does not start without a signed revocation list: an empty one to begin
"$ADMIN" revlist-init --keystore "$STATE/root.casusks" --out "$STATE/revocations.bin" >/dev/null

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$STATE/tls.key" -out "$STATE/tls.crt" 2>/dev/null
chmod 600 "$STATE/tls.key"

# the web client (docs/WEB.md), served on the same port when it was built
WEBLINE=""
if [ -f "$BUILD/web/site/index.html" ]; then
  WEBLINE="\"web_dir\": \"$(cd "$BUILD/web/site" && pwd)\","
fi

cat > "$STATE/casusd.json" <<JSON
{
  "listen": "127.0.0.1",
  "port": $PORT,
  "tls": true,
  "tls_cert": "$STATE/tls.crt",
  "tls_key": "$STATE/tls.key",
  "data_dir": "$STATE/data",
  "root_pub": "$STATE/root.pub",
  "policy": "$STATE/policy.bin",
  "revocations": "$STATE/revocations.bin",
  "issuance_log": "$STATE/issuance.log",
  "certs_dir": "$STATE/certs",
  $WEBLINE
  "log_level": "info"
}
JSON

ROOTHEX=$(cat "$STATE/root.pub")
mkdir -p "$STATE/users" "$STATE/certs"
# user id | role | display name | organisation
while IFS='|' read -r uid role name org; do
  [ -n "$uid" ] || continue
  P="$STATE/users/$uid"
  "$CASUS" --profile "$P" init --server "wss://localhost:$PORT" --root "$ROOTHEX" --ca "$STATE/tls.crt" \
    --user "$uid" --role "$role" --name "$name" --org "$org" >/dev/null
  "$ADMIN" certify --keystore "$STATE/root.casusks" --request "$P/request.casusreq" --out "$P/device.cert" --yes >/dev/null
  "$CASUS" --profile "$P" install-cert "$P/device.cert" >/dev/null
  cp "$P/device.cert" "$STATE/certs/$uid.cert"
  echo "dev-setup: demo user $uid ($role, $org)"
done <<USERS
anna|casemanager|Anna Jansen|Leger des Heils
esther|ervaringsdeskundige|Esther de Vries|Leger des Heils
gijs|ggd|Gijs Bakker|GGD
paula|procesregisseur|Paula Visser|Zorg- en Veiligheidshuis
peter|politie|Peter Smit|Politie
fenna|fg|Fenna Dekker|Gemeente (privacy officer)
USERS
mkdir -p "$STATE/browser"
# browser demo users: devices of their own, made here like the others; the
# browser brings in STATE/browser/UID/keys.casusks ("Of: een bestaand profiel
# gebruiken", passphrase demo). Development only.
while IFS='|' read -r uid role name org; do
  [ -n "$uid" ] || continue
  P="$STATE/browser/$uid"
  "$CASUS" --profile "$P" init --server "wss://localhost:$PORT" --root "$ROOTHEX" --ca "$STATE/tls.crt" \
    --user "$uid" --role "$role" --name "$name" --org "$org" >/dev/null
  "$ADMIN" certify --keystore "$STATE/root.casusks" --request "$P/request.casusreq" --out "$P/device.cert" --yes >/dev/null
  "$CASUS" --profile "$P" install-cert "$P/device.cert" >/dev/null
  cp "$P/device.cert" "$STATE/certs/$uid.cert"
  echo "dev-setup: browser demo user $uid ($role, $org): $P/keys.casusks"
done <<USERS
bente|casemanager|Bente Smit|Wijkteam Noord
pieter|politie|Pieter de Agent|Politie
USERS
echo "dev-setup: done in $STATE"
