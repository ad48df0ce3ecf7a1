#!/usr/bin/env bash
# Restore a backup made by ledger-backup.sh into an EMPTY data directory, ready for PostgreSQL to
# start on it (then `integrator db status` and a reconciliation, docs/scale-out.md).
#
#   deploy/ledger-restore.sh BACKUP_DIR DATA_DIR [RECOVERY_TARGET_TIME]
#
# With RECOVERY_TARGET_TIME (e.g. '2026-11-30 10:15:00+05:30') and restore_command set in the
# server's configuration to fetch archived WAL, the server replays up to that moment and stops
# there (point-in-time recovery); without it, it comes up as of the end of the backup.
set -euo pipefail
backup=${1:?usage: ledger-restore.sh BACKUP_DIR DATA_DIR [RECOVERY_TARGET_TIME]}
data=${2:?usage: ledger-restore.sh BACKUP_DIR DATA_DIR [RECOVERY_TARGET_TIME]}
target=${3:-}
test -f "$backup/base.tar.gz" || { echo "ledger-restore: $backup has no base.tar.gz" >&2; exit 1; }
mkdir -p "$data"
if [[ -n "$(ls -A "$data")" ]]; then
    echo "ledger-restore: $data is not empty; refusing to overwrite (move it aside first)" >&2
    exit 1
fi
chmod 700 "$data"
tar -xzf "$backup/base.tar.gz" -C "$data"
mkdir -p "$data/pg_wal"
tar -xzf "$backup/pg_wal.tar.gz" -C "$data/pg_wal"
if [[ -n "$target" ]]; then
    {
        echo "recovery_target_time = '$target'"
        echo "recovery_target_action = 'promote'"
    } >> "$data/postgresql.auto.conf"
    touch "$data/recovery.signal"
fi
echo "ledger-restore: restored into $data (start PostgreSQL on it)"
