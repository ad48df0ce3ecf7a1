"""The connection pool to the ledger (PostgreSQL, psycopg 3) that every SQL store shares.

    Database.connect(url, min_size=, max_size=)   one pool per process, opened at start-up
    db.transaction()                              a connection in a transaction: COMMIT on exit
    db.transaction(pipelined=True)                the same in pipeline mode: fewer round trips
    db.autocommit()                               a connection whose every statement commits on
                                                  its own: one round trip for a read or a
                                                  single-statement write (no BEGIN/COMMIT)
    db.close()

JSON read from the database (`json_agg`, `jsonb`) is parsed with `integrator.jsonutil`, so a
numeric inside it comes back as a Decimal, never a float. The pool's connections are checked
before use and replaced after a failover (a multi-host URL with `target_session_attrs=read-write`
then reaches the new primary). psycopg 3 waits through gevent's patched sockets, so a slow
query holds one greenlet, not the process.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from integrator import jsonutil
from integrator.payments.use_cases import LedgerUnavailable

log = logging.getLogger("integrator.store.db")

#: How long a request waits for a free connection before the database counts as unavailable.
POOL_WAIT_SECONDS = 5.0


class DatabaseUnavailable(LedgerUnavailable):
    """The ledger cannot be reached (or no connection is free): the transaction did not commit,
    or (the connection broke during COMMIT) its outcome is unknown to us; never half-written."""


def _loads(data: str | bytes) -> Any:
    return jsonutil.loads(data)


def _configure(connection: psycopg.Connection[Any]) -> None:
    set_json_loads(_loads, connection)


class Database:
    """A psycopg connection pool with the ledger's settings."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._pool = pool

    @classmethod
    def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=POOL_WAIT_SECONDS,
            configure=_configure,
            check=ConnectionPool.check_connection,
            # autocommit, so a single read costs one round trip; writes open their own
            # transaction block (BEGIN ... COMMIT) in `transaction()`
            kwargs={"autocommit": True},
            open=False,
            name="ledger",
        )
        pool.open(wait=False)
        return cls(pool)

    @contextmanager
    def transaction(self, *, pipelined: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside one transaction, committed when the block ends without error.

        `pipelined`: in psycopg's pipeline mode, so BEGIN travels with the first statement and
        the statements after the last read travel with the COMMIT (a read's `fetch*` is a round
        trip; an error surfaces at the next read or at the end, and rolls everything back).

        Raises DatabaseUnavailable when no connection can be had or the connection breaks; the
        transaction is then rolled back (or never reached the server), so nothing half-written
        remains.
        """
        try:
            with self._pool.connection() as connection, contextlib.ExitStack() as stack:
                if pipelined:
                    stack.enter_context(connection.pipeline())
                stack.enter_context(connection.transaction())
                yield connection
        except PoolTimeout as exc:
            raise DatabaseUnavailable("no database connection available") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc

    @contextmanager
    def autocommit(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection outside any transaction block: each statement is atomic and committed
        on its own. For reads and single-statement writes; several writes that must commit
        together go in `transaction()`."""
        try:
            with self._pool.connection() as connection:
                yield connection
        except PoolTimeout as exc:
            raise DatabaseUnavailable("no database connection available") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc

    def ping(self) -> bool:
        try:
            with self.transaction() as connection:
                connection.execute("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True

    def is_primary(self) -> bool:
        """Whether the ledger answers on a primary (a standby cannot take a write); raises
        DatabaseUnavailable when it does not answer."""
        with self.transaction() as connection:
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        return row is not None and not row[0]

    def close(self) -> None:
        self._pool.close()
