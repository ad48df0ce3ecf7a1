"""Offline uploads and per-device limits in the ledger (migrations/versions/0007).

    OfflineStore.mark(...)          a payment accepted from an upload is marked offline (repeatable)
    OfflineStore.quarantine(...)    a payment the world moved under is stored NEEDS_ATTENTION,
                                    with its idempotency record and offline mark, in one transaction
    OfflineStore.cash_held(...)     the offline CASH a device holds (the offline cash limit's sum)
    OfflineStore.limits_for(...)    a device's overrides of the offline and cash limits
    OfflineStore.all_limits()       every device's overrides (CashBook reads them together)

A quarantined payment never holds its bill or its consumer: the bill may be paid by another live
payment of ours (the counter took it meanwhile), and the consumer may have an open one. It is
stored with `payment_bills.live = false` and `payment_consumers.open = false`, and saves that keep
it NEEDS_ATTENTION keep them so; an operator's retry (back to PENDING) makes its bills live and its
consumers open again (PaymentStore.save), which the partial unique indexes refuse while another
payment holds the bill or the consumer. The values (OfflineMark, LimitOverrides) are the domain's:
integrator/payments/cash_records.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from integrator import jsonutil
from integrator.payments.cash_records import (
    OFFLINE_CASH_LIMIT_EXCEEDED,
    LimitOverrides,
    OfflineMark,
)
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import CreateOutcome, CreateResult
from integrator.store.cash import REFUNDED
from integrator.store.db import Database

__all__ = ["LimitOverrides", "OfflineMark", "OfflineStore"]


def _json(value: Mapping[str, Any]) -> Jsonb:
    return Jsonb(dict(value), dumps=jsonutil.dumps)


class OfflineStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- offline marks ---

    def mark(
        self,
        payment: Payment,
        *,
        request_fingerprint: str,
        collected_at: datetime,
        detail: Mapping[str, Any],
    ) -> None:
        """Mark an accepted payment as collected offline (a second mark changes nothing)."""
        with self._db.autocommit() as conn:
            conn.execute(
                "INSERT INTO offline_payments (payment_id, device_id, request_fingerprint,"
                " collected_at, uploaded_at, quarantined, detail)"
                " VALUES (%s, %s, %s, %s, %s, false, %s) ON CONFLICT (payment_id) DO NOTHING",
                (
                    payment.id,
                    payment.device_id,
                    request_fingerprint,
                    collected_at,
                    payment.created_at,
                    _json(detail),
                ),
            )

    def marks(self, payment_ids: Sequence[str]) -> dict[str, OfflineMark]:
        """The offline marks of those of `payment_ids` that have one."""
        if not payment_ids:
            return {}
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT payment_id, request_fingerprint, collected_at, uploaded_at, quarantined,"
                " detail FROM offline_payments WHERE payment_id = ANY(%s)",
                (list(payment_ids),),
            ).fetchall()
        return {
            str(r[0]): OfflineMark(
                payment_id=str(r[0]),
                request_fingerprint=str(r[1]),
                collected_at=r[2],
                uploaded_at=r[3],
                quarantined=bool(r[4]),
                detail=r[5] or {},
            )
            for r in rows
        }

    def cash_held(self, device_id: str, *, excluding_keys: Sequence[str] = ()) -> Decimal:
        """The CASH the device holds from payments it collected offline: those uploaded after
        its last CASH hand-over in their city, except payments whose money went back or was never
        taken (refused, cancelled, dishonoured, resolved as refunded), those quarantined for being
        beyond this very limit (their upload counted them out: see payments.offline), and those
        made under `excluding_keys` (the upload being judged counts its own items)."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                """
                SELECT coalesce(sum(p.total_amount), 0)
                FROM offline_payments o JOIN payments p ON p.id = o.payment_id
                WHERE o.device_id = %s AND p.payment_mode = 'CASH'
                  AND p.status NOT IN ('REFUSED', 'CANCELLED', 'DISHONOURED')
                  AND NOT (p.status = 'RESOLVED' AND p.resolution IS NOT DISTINCT FROM %s)
                  AND NOT (o.quarantined AND o.detail ->> 'code' IS NOT DISTINCT FROM %s)
                  AND NOT (p.idempotency_key = ANY(%s))
                  AND p.created_at > coalesce(
                    (SELECT max(h.at) FROM cash_handovers h
                      WHERE h.device_id = o.device_id AND h.tenant_id = p.tenant_id
                        AND h.payment_mode = 'CASH'),
                    '-infinity')
                """,
                (device_id, REFUNDED, OFFLINE_CASH_LIMIT_EXCEEDED, list(excluding_keys)),
            ).fetchone()
        return Decimal(0) if row is None else Decimal(row[0])

    def uploaded_between(
        self, device_id: str, start: datetime, end: datetime, *, limit: int = 500
    ) -> list[OfflineMark]:
        """A device's offline payments that reached us in [start, end), oldest first."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT payment_id, request_fingerprint, collected_at, uploaded_at, quarantined,"
                " detail FROM offline_payments WHERE device_id = %s AND uploaded_at >= %s"
                " AND uploaded_at < %s ORDER BY uploaded_at, payment_id LIMIT %s",
                (device_id, start, end, limit),
            ).fetchall()
        return [
            OfflineMark(
                payment_id=str(r[0]),
                request_fingerprint=str(r[1]),
                collected_at=r[2],
                uploaded_at=r[3],
                quarantined=bool(r[4]),
                detail=r[5] or {},
            )
            for r in rows
        ]

    def quarantine(
        self,
        payment: Payment,
        *,
        request_fingerprint: str,
        collected_at: datetime,
        detail: Mapping[str, Any],
    ) -> CreateResult:
        """Store `payment` (NEEDS_ATTENTION) without claiming its bills or consumers, with its
        idempotency record and its offline mark, in one transaction.

        REPLAY/MISMATCH when the device's key already made a payment (nothing written)."""
        if payment.status is not PaymentStatus.NEEDS_ATTENTION:
            raise ValueError("a quarantined payment is NEEDS_ATTENTION")
        try:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "SELECT fingerprint, payment_id FROM idempotency_keys"
                    " WHERE device_id = %s AND key = %s FOR UPDATE",
                    (payment.device_id, payment.idempotency_key),
                ).fetchone()
                if row is not None and row[1] is not None:
                    same = row[0] == payment.fingerprint
                    return CreateResult(
                        outcome=CreateOutcome.REPLAY if same else CreateOutcome.MISMATCH,
                        payment_id=str(row[1]),
                    )
                self._insert(conn, payment)
                conn.execute(
                    "INSERT INTO offline_payments (payment_id, device_id, request_fingerprint,"
                    " collected_at, uploaded_at, quarantined, detail)"
                    " VALUES (%s, %s, %s, %s, %s, true, %s)",
                    (
                        payment.id,
                        payment.device_id,
                        request_fingerprint,
                        collected_at,
                        payment.created_at,
                        _json(detail),
                    ),
                )
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "payments_one_per_idempotency_key":
                # a concurrent upload of the same payment won: answer as its replay
                found = self._bound(payment.device_id, payment.idempotency_key)
                if found is not None:
                    return CreateResult(outcome=CreateOutcome.REPLAY, payment_id=found)
            raise
        return CreateResult(outcome=CreateOutcome.CREATED, payment_id=payment.id)

    def _bound(self, device_id: str, key: str) -> str | None:
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT payment_id FROM idempotency_keys WHERE device_id = %s AND key = %s",
                (device_id, key),
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    @staticmethod
    def _insert(conn: psycopg.Connection[Any], p: Payment) -> None:
        conn.execute(
            """
            INSERT INTO payments (id, device_id, idempotency_key, fingerprint, status, tenant_id,
              payment_mode, paid_by, payer_name, mobile_number, mobile_last4, instrument_number,
              instrument_date, transaction_number, collected_at, created_at, provisional,
              attempts, last_error, create_sent, needs_attention_reason, total_amount, version,
              history_length)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s,
                    false, %s, %s, 0, %s)
            """,
            (
                p.id,
                p.device_id,
                p.idempotency_key,
                p.fingerprint,
                p.status.value,
                p.tenant_id,
                p.payment_mode,
                p.paid_by,
                p.payer_name,
                p.mobile_number,
                p.mobile_last4,
                p.instrument_number,
                p.instrument_date,
                p.transaction_number,
                p.collected_at,
                p.created_at,
                p.provisional,
                p.last_error,
                p.needs_attention_reason,
                p.total_amount,
                len(p.history),
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO payment_consumers"
                " (payment_id, tenant_id, business_service, consumer_code, open)"
                " VALUES (%s, %s, %s, %s, false)",
                [(p.id, *c) for c in p.consumer_keys],
            )
            cur.executemany(
                """
                INSERT INTO payment_bills (payment_id, position, bill_id, bill_number,
                  consumer_code, business_service, amount, total_due, live)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false)
                """,
                [
                    (
                        p.id,
                        i,
                        b.bill_id,
                        b.bill_number,
                        b.consumer_code,
                        b.business_service,
                        b.amount,
                        b.total_due,
                    )
                    for i, b in enumerate(p.bills)
                ],
            )
            cur.executemany(
                """
                INSERT INTO payment_history (payment_id, seq, at, actor, event, from_status,
                  to_status, reason, codes, latency_ms, detail, repeat_count, last_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, 1, NULL)
                """,
                [
                    (
                        p.id,
                        seq,
                        e.at,
                        e.actor,
                        e.event,
                        None if e.from_status is None else e.from_status.value,
                        None if e.to_status is None else e.to_status.value,
                        e.reason,
                        list(e.codes),
                        _json(e.detail),
                    )
                    for seq, e in enumerate(p.history)
                ],
            )
        conn.execute(
            """
            INSERT INTO idempotency_keys (device_id, key, fingerprint, payment_id)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (device_id, key) DO UPDATE
              SET fingerprint = EXCLUDED.fingerprint, payment_id = EXCLUDED.payment_id,
                  claim_token = NULL, claimed_at = NULL
            """,
            (p.device_id, p.idempotency_key, p.fingerprint, p.id),
        )

    # --- limits ---

    def limits_for(self, device_id: str) -> LimitOverrides:
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT offline_max_age_seconds, offline_cash_limit, cash_in_hand_cap"
                " FROM device_limits WHERE device_id = %s",
                (device_id,),
            ).fetchone()
        if row is None:
            return LimitOverrides()
        return LimitOverrides(
            offline_max_age_seconds=row[0], offline_cash_limit=row[1], cash_in_hand_cap=row[2]
        )

    def all_limits(self) -> dict[str, LimitOverrides]:
        """Every device's overrides, by device id (devices without any are absent)."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT device_id, offline_max_age_seconds, offline_cash_limit, cash_in_hand_cap"
                " FROM device_limits"
            ).fetchall()
        return {
            str(row[0]): LimitOverrides(
                offline_max_age_seconds=row[1], offline_cash_limit=row[2], cash_in_hand_cap=row[3]
            )
            for row in rows
        }

    def set_limits(self, device_id: str, limits: LimitOverrides, *, now: datetime) -> None:
        """Replace a device's overrides (None columns fall back to the settings)."""
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO device_limits (device_id, offline_max_age_seconds,
                  offline_cash_limit, cash_in_hand_cap, updated_at)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (device_id) DO UPDATE SET
                  offline_max_age_seconds = EXCLUDED.offline_max_age_seconds,
                  offline_cash_limit = EXCLUDED.offline_cash_limit,
                  cash_in_hand_cap = EXCLUDED.cash_in_hand_cap,
                  updated_at = EXCLUDED.updated_at
                """,
                (
                    device_id,
                    limits.offline_max_age_seconds,
                    limits.offline_cash_limit,
                    limits.cash_in_hand_cap,
                    now,
                ),
            )
