"""Registration leases with fencing tokens, kept in the payment's row of the ledger.

An attempt acquires the lease with one conditional UPDATE: `fence = fence + 1` where no lease is
current, returning the new fence (`acquire_pending` also returns the payment, read in the same
statement). A save under the fence may renew or release the lease in its own UPDATE
(`LeaseAfterSave`), so an attempt's writes are not followed by separate lease statements.
Tokens only grow, also across a failover (the counter is replicated with the row,
synchronously). `PaymentStore.save(payment, fence=token)` refuses the
write unless the lease is still current and holds that token, so an attempt whose lease expired
(it was paused, or DIGIT was slow) can no longer write even if no other attempt has started.
Lease expiry is measured on the database's clock, the one clock every web and worker process
shares.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from integrator.payments.models import Payment
from integrator.store.codec import payment_from_dict
from integrator.store.db import Database
from integrator.store.payments import PAYMENT_COLUMNS
from integrator.store.payments import lease_ttl as _ttl

# The lease taken and the payment read in one statement: the CTE's row is the payment as updated
# (new fence and lease_until); bills, targets and history are read by its id.
_LEASE_PENDING = """
WITH p AS (
  UPDATE payments SET fence = fence + 1, lease_until = clock_timestamp() + %s
  WHERE id = %s AND status = 'PENDING'
    AND (lease_until IS NULL OR lease_until <= clock_timestamp())
  RETURNING *
)
SELECT """
_ACQUIRE_PENDING = _LEASE_PENDING + PAYMENT_COLUMNS + " FROM p"  # constants only


class LeaseStore:
    """Leases of payments' registration attempts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, payment_id: str, *, ttl_seconds: float) -> int | None:
        """A new fencing token if nobody holds the payment's lease, else None."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                """
                UPDATE payments SET fence = fence + 1, lease_until = clock_timestamp() + %s
                WHERE id = %s AND (lease_until IS NULL OR lease_until <= clock_timestamp())
                RETURNING fence
                """,
                (_ttl(ttl_seconds), payment_id),
            ).fetchone()
        return None if row is None else int(row[0])

    def acquire_pending(self, payment_id: str, *, ttl_seconds: float) -> tuple[int, Payment] | None:
        """A new fencing token and the payment as it is now, if the payment is PENDING and
        nobody holds its lease; else None (and nothing changed). One round trip and commit."""
        with self._db.autocommit() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_ACQUIRE_PENDING, (_ttl(ttl_seconds), payment_id))
            row: dict[str, Any] | None = cur.fetchone()
        if row is None:
            return None
        return int(row["fence"]), payment_from_dict(row)

    def release(self, payment_id: str, token: int) -> bool:
        """Give the lease back, only if `token` still holds it (compare-and-clear)."""
        with self._db.autocommit() as conn:
            cur = conn.execute(
                "UPDATE payments SET lease_until = NULL"
                " WHERE id = %s AND fence = %s AND lease_until > clock_timestamp()",
                (payment_id, token),
            )
            return cur.rowcount == 1

    def renew(self, payment_id: str, token: int, *, ttl_seconds: float) -> bool:
        """Extend the lease to `ttl_seconds` from now, only if `token` still holds it."""
        with self._db.autocommit() as conn:
            cur = conn.execute(
                "UPDATE payments SET lease_until = clock_timestamp() + %s"
                " WHERE id = %s AND fence = %s AND lease_until > clock_timestamp()",
                (_ttl(ttl_seconds), payment_id, token),
            )
            return cur.rowcount == 1

    def current(self, payment_id: str) -> int | None:
        """The token holding the lease now, or None when nobody holds it."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT fence FROM payments WHERE id = %s AND lease_until > clock_timestamp()",
                (payment_id,),
            ).fetchone()
        return None if row is None else int(row[0])
