#!/usr/bin/env bash
# Restore a backup made by redis-backup.sh into an EMPTY data directory, ready for the
# integrator's durable Redis (appendonly yes) to start on it.
#
#   deploy/redis-restore.sh BACKUP.rdb DATA_DIR
#
# Redis with appendonly yes loads only its AOF at start-up, never dump.rdb, so the RDB is first
# loaded by a temporary redis-server (appendonly no, private port, localhost), which then turns
# AOF on (CONFIG SET appendonly yes rewrites the AOF from the loaded data) and shuts down. Then
# start the real Redis (config/redis.conf) with --dir DATA_DIR. Procedure: docs/scale-out.md.
set -euo pipefail
backup=${1:?usage: redis-restore.sh BACKUP.rdb DATA_DIR}
data=${2:?usage: redis-restore.sh BACKUP.rdb DATA_DIR}
if [[ -f "$backup.sha256" ]]; then
    (cd "$(dirname "$backup")" && sha256sum --quiet -c "$(basename "$backup").sha256")
fi
mkdir -p "$data"
if [[ -n "$(ls -A "$data")" ]]; then
    echo "redis-restore: $data is not empty; refusing to overwrite (move it aside first)" >&2
    exit 1
fi
cp "$backup" "$data/dump.rdb"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --dbfilename dump.rdb \
    --appendonly no --save "" --daemonize no --logfile "$data/restore.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then break; fi
    sleep 0.1
done
keys=$(redis-cli -p "$port" dbsize)
redis-cli -p "$port" config set appendonly yes >/dev/null
for _ in $(seq 1 600); do
    info=$(redis-cli -p "$port" info persistence)
    if grep -q '^aof_enabled:1' <<<"$info" && grep -q '^aof_rewrite_in_progress:0' <<<"$info" \
        && grep -q '^aof_rewrite_scheduled:0' <<<"$info"; then
        break
    fi
    sleep 0.1
done
grep -q '^aof_last_bgrewrite_status:ok' <<<"$(redis-cli -p "$port" info persistence)" || {
    echo "redis-restore: the AOF rewrite failed (see $data/restore.log)" >&2; exit 1; }
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$pid" 2>/dev/null || true
trap - EXIT
rm -f "$data/dump.rdb"
echo "redis-restore: $keys keys restored into $data (start Redis with --dir $data)"
