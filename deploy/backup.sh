#!/bin/sh
# backup.sh DATA_DIR BACKUP_ROOT: a consistent hot backup of a running casusd.
# Writes BACKUP_ROOT/casus-YYYYmmddTHHMMSS/ with a compacted data.mdb and the
# audit public key, and keeps the 14 newest. Run from cron or a systemd timer.
# The audit signing key (audit.key) is copied only if CASUS_BACKUP_AUDIT_KEY=1:
# store such backups as you store the key itself.
set -eu
DATA=${1:?usage: backup.sh DATA_DIR BACKUP_ROOT}
ROOT=${2:?usage: backup.sh DATA_DIR BACKUP_ROOT}
CASUSD=${CASUSD:-casusd}
STAMP=$(date -u +%Y%m%dT%H%M%S)
OUT="$ROOT/casus-$STAMP"
mkdir -p "$ROOT"
"$CASUSD" backup --data "$DATA" --out "$OUT"
cp "$DATA/audit.pub" "$OUT/"
[ "${CASUS_BACKUP_AUDIT_KEY:-0}" = 1 ] && cp -p "$DATA/audit.key" "$OUT/"
ls -1d "$ROOT"/casus-* | sort | head -n -14 | xargs -r rm -rf
echo "backup: $OUT"
