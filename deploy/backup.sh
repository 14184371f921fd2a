#!/bin/sh
# backup.sh DATA_DIR BACKUP_ROOT: a consistent hot backup of a running casusd.
#
# Writes BACKUP_ROOT/casus-YYYYmmddTHHMMSSZ/ with everything a restore needs:
#   data.mdb     a compacted, consistent copy of the LMDB store (casusd backup)
#   audit.key    the audit signing key: without it a restored server would start
#                a new key and the old trail would no longer verify as one chain
#   audit.pub    the audit public key (what the privacy officer pins)
#   MANIFEST     casusd --version, the time, and a sha256 of each file
# The backup is written as casus-....partial and renamed when complete, so a
# folder named casus-<time> is always whole. It keeps the newest
# CASUS_BACKUP_KEEP (default 14). Run by casus-backup.timer as the casus user.
#
# The audit key is secret: anyone with it can sign a forged trail. The backup
# root and every backup are mode 0700, the key 0600; keep copies off the host
# encrypted, with the same care as the server itself. CASUS_BACKUP_AUDIT_KEY=0
# leaves the key out (then a restore needs the key from elsewhere, see
# docs/OPERATIONS.md "Restore").
set -eu
umask 077
DATA=${1:?usage: backup.sh DATA_DIR BACKUP_ROOT}
ROOT=${2:?usage: backup.sh DATA_DIR BACKUP_ROOT}
CASUSD=${CASUSD:-casusd}
KEEP=${CASUS_BACKUP_KEEP:-14}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
# a backup's folder is named by the second it was taken: a second backup in the
# same second waits for the next one instead of landing inside the first
while [ -e "$ROOT/casus-$STAMP" ] || [ -e "$ROOT/casus-$STAMP.partial" ]; do
  sleep 1
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
done
OUT="$ROOT/casus-$STAMP"
TMP="$OUT.partial"
mkdir -p "$ROOT"
chmod 700 "$ROOT"
rm -rf "$TMP"
"$CASUSD" backup --data "$DATA" --out "$TMP" >/dev/null
cp "$DATA/audit.pub" "$TMP/audit.pub"
if [ "${CASUS_BACKUP_AUDIT_KEY:-1}" != 0 ]; then
  cp "$DATA/audit.key" "$TMP/audit.key"
  chmod 600 "$TMP/audit.key"
fi
{
  echo "casus backup $STAMP"
  echo "from $DATA"
  "$CASUSD" --version
  (cd "$TMP" && sha256sum -- data.mdb audit.pub $( [ -f "$TMP/audit.key" ] && echo audit.key ))
} > "$TMP/MANIFEST"
sync "$TMP"/* 2>/dev/null || sync
mv -T "$TMP" "$OUT"   # -T: fail, never move into an existing folder
# keep the newest $KEEP complete backups
ls -1d "$ROOT"/casus-*Z 2>/dev/null | sort | head -n "-$KEEP" | xargs -r rm -rf
echo "backup: $OUT"
