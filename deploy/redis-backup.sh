#!/usr/bin/env bash
# Back up the integrator's Redis: a consistent RDB snapshot streamed over the network
# (`redis-cli --rdb`, the same transfer a replica gets), checked, and kept with a timestamp.
#
#   deploy/redis-backup.sh DEST_DIR [KEEP]
#   env: REDIS_HOST (127.0.0.1), REDIS_PORT (6379), REDISCLI_AUTH (the password, if any)
#
# Works against a primary or (better: no fork on the primary) a replica. Run it from cron or a
# systemd timer, e.g. every 15 minutes, and copy DEST_DIR off the machine. Prints the file path.
set -euo pipefail
dest=${1:?usage: redis-backup.sh DEST_DIR [KEEP]}
keep=${2:-96}
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
mkdir -p "$dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp="$dest/.redis-$stamp.rdb.partial"
out="$dest/redis-$stamp.rdb"
trap 'rm -f "$tmp"' EXIT
redis-cli -h "$host" -p "$port" --rdb "$tmp" >/dev/null
if command -v redis-check-rdb >/dev/null 2>&1; then
    redis-check-rdb "$tmp" >/dev/null || { echo "redis-backup: $tmp fails redis-check-rdb" >&2; exit 1; }
fi
mv "$tmp" "$out"
sha256sum "$out" > "$out.sha256"
# keep the newest $keep backups
ls -1t "$dest"/redis-*.rdb 2>/dev/null | tail -n +"$((keep + 1))" | while read -r old; do
    rm -f "$old" "$old.sha256"
done
echo "$out"
