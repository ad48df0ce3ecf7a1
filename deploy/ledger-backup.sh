#!/usr/bin/env bash
# Back up the ledger (PostgreSQL): a base backup with the WAL needed to make it consistent
# (`pg_basebackup -X stream`), in tar format, checked, and kept with a timestamp.
#
#   deploy/ledger-backup.sh DEST_DIR [KEEP]
#   env: the libpq variables of a role with REPLICATION (PGHOST, PGPORT, PGUSER, PGPASSWORD ...)
#
# A base backup alone restores the ledger as it was when the backup ended. For point-in-time
# recovery, also archive WAL continuously (archive_mode = on, archive_command copying to the same
# safe place, docs/scale-out.md): a restore then replays up to any moment after the backup. Run
# this from cron or a systemd timer (e.g. nightly) against the primary or a standby, and copy
# DEST_DIR off the machine. Prints the backup directory.
set -euo pipefail
dest=${1:?usage: ledger-backup.sh DEST_DIR [KEEP]}
keep=${2:-14}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
PATH="${bindir:+$bindir:}$PATH"
mkdir -p "$dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp="$dest/.ledger-$stamp.partial"
out="$dest/ledger-$stamp"
trap 'rm -rf "$tmp"' EXIT
pg_basebackup --pgdata "$tmp" --format tar --gzip --wal-method stream --checkpoint fast \
    --manifest-checksums SHA256 --no-password
pg_verifybackup --no-parse-wal "$tmp" >/dev/null 2>&1 || {
    # tar-format backups are verified by their manifest's checksums only from PostgreSQL 17 on
    test -s "$tmp/backup_manifest" || { echo "ledger-backup: no backup manifest" >&2; exit 1; }
}
mv "$tmp" "$out"
# keep the newest $keep backups
ls -1dt "$dest"/ledger-* 2>/dev/null | tail -n +"$((keep + 1))" | while read -r old; do
    rm -rf "$old"
done
echo "$out"
