"""The tests' ledger databases: each a copy of a template migrated once per session."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import psycopg
from psycopg import sql

from integrator.localpg import PrivateCluster

_numbers = itertools.count(1)


@contextlib.contextmanager
def fresh_database(cluster: PrivateCluster, template: str) -> Iterator[str]:
    """A new database copied from `template` (the ledger's schema); dropped afterwards."""
    name = f"test_{next(_numbers)}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        # FILE_COPY: a few ms for a small template on a no-fsync cluster (WAL_LOG is 3x slower)
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)
