"""One device's offline uploads judged one at a time: a PostgreSQL advisory lock per device.

    UploadLocks(db).hold(device_id)    a context manager: the device's lock, held until it exits

The offline cash limit counts what a device already holds from earlier uploads
(`OfflineStore.cash_held`) plus the upload's own CASH items. Each item commits in its own
transaction on the main pool, and judging them calls DIGIT, so the lock is held apart from them:
a transaction-level advisory lock (`pg_advisory_xact_lock`) taken in a transaction of its own,
left open while the upload runs and ended when it is done. Ending the transaction (also when the
process or its connection dies) releases it, and it keeps working behind PgBouncer's transaction
pooling, where a session-level lock could be taken on one server connection and released on
another.

That transaction holds a connection of `db`, which must not be the pool the upload stores items
through: uploads waiting for the lock would hold its connections while the holder waits for one
to store its items (until the pool's wait ran out). `Services.upload_locks` gives it a pool of
its own. Nothing else waits for this lock while holding another (an upload takes it before it
reads or writes anything; hand-overs take only their own `cash_handovers` locks), so it cannot
close a cycle of waits with the row and advisory locks acceptance and hand-overs take.

A second upload waits at most `wait_seconds` for the lock (`lock_timeout`, in the lock's
transaction only), then gets OfflineUploadInProgress (409 with Retry-After); waiting for a free
connection of the pool is bounded by the pool's own wait (DatabaseUnavailable, 503).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors

from integrator.payments.use_cases import OfflineUploadInProgress
from integrator.store.db import Database, DatabaseUnavailable

log = logging.getLogger("integrator.store.upload_locks")

#: How long an upload waits for another upload of the same device to finish.
UPLOAD_LOCK_WAIT_SECONDS = 5.0
#: The Retry-After of the answer to an upload that could not wait long enough.
UPLOAD_RETRY_AFTER_SECONDS = 5


class UploadLocks:
    def __init__(self, db: Database, *, wait_seconds: float = UPLOAD_LOCK_WAIT_SECONDS) -> None:
        self._db = db
        self._wait_ms = max(1, round(wait_seconds * 1000))

    @contextmanager
    def hold(self, device_id: str) -> Iterator[None]:
        """The device's upload lock, held while the block runs.

        Raises OfflineUploadInProgress when another upload of the device holds it longer than
        the wait, DatabaseUnavailable when no connection can be had; the block is then not run."""
        finished = False
        try:
            with self._db.transaction() as conn:
                try:
                    conn.execute(
                        "SELECT set_config('lock_timeout', %s, true)", (str(self._wait_ms),)
                    )
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        (upload_lock(device_id),),
                    )
                except errors.LockNotAvailable:
                    raise OfflineUploadInProgress(retry_after=UPLOAD_RETRY_AFTER_SECONDS) from None
                yield
                finished = True
        except DatabaseUnavailable:
            if not finished:
                raise
            # the upload is done and answered from what it stored; the lock went with the
            # connection (a server that loses a session ends its transaction and its locks)
            log.warning("the upload lock's connection broke before it was released")


def upload_lock(device_id: str) -> str:
    """The name of a device's upload lock (hashed to the lock's 64-bit key; a collision only
    makes two devices' uploads wait for each other)."""
    return f"offline_uploads:{device_id}"
