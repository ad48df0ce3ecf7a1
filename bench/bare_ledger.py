"""The comparison point of `make bench` (6): one durable commit per request, nothing else.

`POST /v1/payments` inserts one row into a table of its own and commits, on a psycopg pool of
DATABASE_POOL_SIZE connections, under the integrator's gunicorn model (bench/bare_gunicorn.conf.py).
It measures what a durable commit costs on this disk at this concurrency, the floor under the
integrator's 202 path (which commits an idempotency claim and the acceptance transaction).

    DATABASE_URL=postgresql://... gunicorn -c bench/bare_gunicorn.conf.py bare_ledger:app
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response, request
from psycopg_pool import ConnectionPool

URL = os.environ["DATABASE_URL"]
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "20"))

app = Flask("bare_ledger")
_pool = ConnectionPool(URL, min_size=1, max_size=POOL_SIZE, open=True)
with _pool.connection() as _conn:
    # every worker runs this at once: the lock keeps two CREATEs from racing on the catalog
    _conn.execute("SELECT pg_advisory_xact_lock(4242)")
    _conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_rows (id text PRIMARY KEY, body bytea NOT NULL)"
    )


@app.post("/v1/payments")
def payments() -> Response:
    with _pool.connection() as conn:  # the block commits
        conn.execute(
            "INSERT INTO bench_rows (id, body) VALUES (%s, %s)",
            (secrets.token_hex(12), request.get_data()),
        )
    return Response('{"status":"PENDING"}', status=202, mimetype="application/json")
