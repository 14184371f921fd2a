#!/bin/sh
# restore.sh BACKUP_DIR DATA_DIR: put a backup made by backup.sh in place as
# the data folder of a casusd that is NOT running (docs/OPERATIONS.md "Restore").
#
# Checks the MANIFEST's sha256 sums, refuses while a casusd holds DATA_DIR's
# lock, moves an existing DATA_DIR aside to DATA_DIR.before-restore-<time>,
# and copies data.mdb, audit.key and audit.pub with modes 0600/0600/0644.
# Run as root, the folder is given to the owner of its parent (the casus user
# for /var/lib/casus/data). A backup without audit.key is refused, because the
# restored server would sign with a new key and the old trail would no longer
# verify as one chain; give the key from its separate copy with
# CASUS_AUDIT_KEY=FILE.
set -eu
umask 077
BK=${1:?usage: restore.sh BACKUP_DIR DATA_DIR}
DATA=${2:?usage: restore.sh BACKUP_DIR DATA_DIR}
KEY=${CASUS_AUDIT_KEY:-$BK/audit.key}
die() { echo "restore: $*" >&2; exit 1; }
[ -f "$BK/data.mdb" ] || die "$BK has no data.mdb: not a casus backup"
[ -f "$BK/MANIFEST" ] || die "$BK has no MANIFEST: not a complete backup.sh backup"
[ -f "$KEY" ] || die "no audit key ($KEY): set CASUS_AUDIT_KEY=FILE to the key kept apart"
(cd "$BK" && sed -n '/^[0-9a-f]\{64\}  /p' MANIFEST | sha256sum --quiet -c -) || die "$BK does not match its MANIFEST"
if [ -e "$DATA/casusd.lock" ] && ! flock -n "$DATA/casusd.lock" true; then
  die "a casusd is running on $DATA: stop it first (systemctl stop casusd)"
fi
if [ -e "$DATA" ]; then
  ASIDE="$DATA.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$DATA" "$ASIDE"
  echo "restore: the old $DATA is kept as $ASIDE"
fi
mkdir -p "$DATA"
chmod 700 "$DATA"
cp "$BK/data.mdb" "$DATA/data.mdb"
cp "$KEY" "$DATA/audit.key"
cp "$BK/audit.pub" "$DATA/audit.pub"
chmod 600 "$DATA/data.mdb" "$DATA/audit.key"
chmod 644 "$DATA/audit.pub"
# the next casusd start gives the store a new epoch (clients see the server went back in time)
date -u +%Y-%m-%dT%H:%M:%SZ > "$DATA/RESTORED"
echo "$BK" >> "$DATA/RESTORED"
chmod 600 "$DATA/RESTORED"
if [ "$(id -u)" = 0 ]; then
  OWNER=$(stat -c %u:%g "$(dirname "$DATA")")
  chown -R "$OWNER" "$DATA"
fi
sync
echo "restore: $BK is in place in $DATA; start casusd, then check the trail with casus audit verify"
