"""Idempotency-Key records (IETF draft "The Idempotency-Key HTTP Header Field"), per device, in the
ledger's `idempotency_keys` table (primary key: device, key):

    fingerprint  of the validated request that first used the key
    payment_id   the payment created under it (written in the transaction that accepts the
                 payment, `PaymentStore.create`); from then on the record is permanent
    claim_token  the request now working on it (in flight), with claimed_at

An in-flight claim older than `in_flight_bound_seconds` is treated as abandoned (a crashed
request) and may be taken over. Correctness never rests on the claim alone: `PaymentStore.create`
re-reads the record, locked, in the transaction that writes the payment, and UNIQUE (device, key)
on payments refuses a second payment for the key, so two identical requests make one payment even
if both got past `claim`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from integrator.payments.ports import ClaimOutcome, ClaimResult
from integrator.store.db import Database

__all__ = ["ClaimOutcome", "ClaimResult", "IdempotencyStore"]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment


class IdempotencyStore:
    """Claims and records of devices' Idempotency-Keys."""

    def __init__(self, db: Database, *, in_flight_bound_seconds: float = 60.0) -> None:
        if in_flight_bound_seconds <= 0:
            raise ValueError("the in-flight bound must be positive")
        self._db = db
        self._bound = timedelta(seconds=in_flight_bound_seconds)

    def claim(self, device_id: str, key: str, fingerprint: str, *, now: datetime) -> ClaimResult:
        """Start working on (device, key) for the request with `fingerprint`, atomically."""
        token = secrets.token_hex(16)
        now = _aware(now)
        with self._db.autocommit() as conn:
            won = conn.execute(
                """
                INSERT INTO idempotency_keys (device_id, key, fingerprint, claim_token, claimed_at)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (device_id, key) DO UPDATE
                  SET fingerprint = EXCLUDED.fingerprint, claim_token = EXCLUDED.claim_token,
                      claimed_at = EXCLUDED.claimed_at
                  WHERE idempotency_keys.payment_id IS NULL
                    AND (idempotency_keys.claimed_at IS NULL
                         OR idempotency_keys.claimed_at <= %s)
                RETURNING claim_token
                """,
                (device_id, key, fingerprint, token, now, now - self._bound),
            ).fetchone()
            if won is not None:
                return ClaimResult(outcome=ClaimOutcome.NEW, token=token)
            row = conn.execute(
                "SELECT fingerprint, payment_id FROM idempotency_keys"
                " WHERE device_id = %s AND key = %s",
                (device_id, key),
            ).fetchone()
        assert row is not None  # the conflicting row exists: records are never deleted once bound
        stored_fingerprint, payment_id = row
        if payment_id is not None:
            same = stored_fingerprint == fingerprint
            outcome = ClaimOutcome.REPLAY if same else ClaimOutcome.MISMATCH
            return ClaimResult(outcome=outcome, payment_id=str(payment_id))
        if stored_fingerprint != fingerprint:
            return ClaimResult(outcome=ClaimOutcome.MISMATCH)
        return ClaimResult(outcome=ClaimOutcome.IN_FLIGHT)

    def release(self, device_id: str, key: str, token: str | None = None) -> bool:
        """Forget an in-flight claim (validation failed, nothing stored) so the key can be reused.

        With `token`, only the claim holding that token is released (a slow request cannot release
        the claim of the request that took over). A key that made a payment is never released.
        """
        with self._db.autocommit() as conn:
            cur = conn.execute(
                "DELETE FROM idempotency_keys WHERE device_id = %s AND key = %s"
                " AND payment_id IS NULL AND (%s::text IS NULL OR claim_token = %s)",
                (device_id, key, token, token),
            )
            return cur.rowcount == 1

    def payment_id(self, device_id: str, key: str) -> str | None:
        """The payment created under (device, key), if any."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT payment_id FROM idempotency_keys WHERE device_id = %s AND key = %s",
                (device_id, key),
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])
