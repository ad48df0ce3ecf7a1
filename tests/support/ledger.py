"""The tests' ledger database: one migrated database per session, emptied before each test.

`migrated_database_url(tmp)` yields the URL of a fresh database, migrated to head. It uses the
server named by TEST_POSTGRES_URL (a libpq URL of a server this user may create databases on),
else a private cluster started under `tmp` (integrator.localpg).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg

from integrator.store.migrations import upgrade

LEDGER_TABLES = (
    "reconciliation_runs",
    "reconciliation_flags",
    "webhook_deliveries",
    "device_webhooks",
    "devices",
    "payment_history",
    "payment_targets",
    "payment_consumers",
    "payment_bills",
    "idempotency_keys",
    "payments",
)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def migrated_database_url(tmp: Path) -> Iterator[str]:
    server = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"integrator_test_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server, name)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clean_ledger(url: str) -> None:
    """Empty every ledger table (the append-only triggers do not fire on TRUNCATE)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(LEDGER_TABLES))
