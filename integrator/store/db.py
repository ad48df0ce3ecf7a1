"""The connection pool to the ledger (PostgreSQL, psycopg 3) that every SQL store shares.

    Database.connect(url, min_size=, max_size=)   one pool per process, opened at start-up
    db.transaction()                              a connection in a transaction: COMMIT on exit
    db.transaction(pipelined=True)                the same in pipeline mode: fewer round trips
    db.autocommit()                               a connection whose every statement commits on
                                                  its own: one round trip for a read or a
                                                  single-statement write (no BEGIN/COMMIT)
    db.close()

JSON read from the database (`json_agg`, `jsonb`) is parsed with `integrator.jsonutil`, so a
numeric inside it comes back as a Decimal, never a float. A pooled connection that sat idle longer
than CHECK_AFTER_IDLE_SECONDS is checked (one round trip) before use, and a broken one is replaced
(after a failover, a multi-host URL with `target_session_attrs=read-write` then reaches the new
primary). One in steady use is not: a round trip on every checkout was a good part of a payment's
cost, and a connection broken under load (a failover during traffic) costs that one request a 503
(DatabaseUnavailable, Retry-After) and is then discarded by the pool. psycopg 3 waits through
gevent's patched sockets, so a slow query holds one greenlet, not the process.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
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
#: A connection idle in the pool longer than this is checked before use (see the module doc).
CHECK_AFTER_IDLE_SECONDS = 2.0


class DatabaseUnavailable(LedgerUnavailable):
    """The ledger cannot be reached (or no connection is free): the transaction did not commit,
    or (the connection broke during COMMIT) its outcome is unknown to us; never half-written."""


def _loads(data: str | bytes) -> Any:
    return jsonutil.loads(data)


class _IdleCheck:
    """The pool's `configure`, `reset` and `check`: remembers when each connection went back to
    the pool, and checks only those idle longer than `after_seconds` (or of unknown age)."""

    def __init__(self, after_seconds: float) -> None:
        self._after = after_seconds
        self._idle_since: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def configure(self, connection: psycopg.Connection[Any]) -> None:
        set_json_loads(_loads, connection)
        self._idle_since[connection] = time.monotonic()

    def reset(self, connection: psycopg.Connection[Any]) -> None:
        self._idle_since[connection] = time.monotonic()

    def check(self, connection: psycopg.Connection[Any]) -> None:
        since = self._idle_since.get(connection)
        if since is None or time.monotonic() - since > self._after:
            ConnectionPool.check_connection(connection)


class Database:
    """A psycopg connection pool with the ledger's settings."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._pool = pool

    @classmethod
    def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        idle = _IdleCheck(CHECK_AFTER_IDLE_SECONDS)
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=POOL_WAIT_SECONDS,
            configure=idle.configure,
            reset=idle.reset,
            check=idle.check,
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
