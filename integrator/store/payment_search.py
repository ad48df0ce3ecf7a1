"""The ops lists of payments in SQL: filtered pages with a total count, CSV batches, device
names, and a day's volume per city and payment mode (counted as the settlement report counts it).

Every criterion of a `PaymentFilter` becomes one WHERE fragment (constants of this module; the
values travel as parameters), answered from the ledger's indexes (migrations 0001/0002):
status and created_at by `payments_by_status`/`payments_by_created`, bills by their indexes on
`payment_bills`, a device name through `devices_unique_name`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.payment_filter import PaymentFilter
from integrator.store.cash import REVERSAL, REVERSAL_PARAMS
from integrator.store.db import Database
from integrator.store.payments import PaymentStore

#: Payments loaded per round trip while exporting a list.
EXPORT_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class VolumeRow:
    """A period's money per city and payment mode, as the collector's day counts it
    (store.cash): payments accepted in the period that DIGIT did not refuse (a REFUSED one took
    no money), less those whose money went back in the period (cancelled, dishonoured or
    refunded), whenever they were accepted."""

    tenant_id: str
    payment_mode: str
    count: int  # accepted in the period, REFUSED ones left out
    amount: Decimal  # what those paid (a payment reversed later still counts on its own day)
    reversed_count: int = 0  # moves to CANCELLED/DISHONOURED, or RESOLVED as REFUNDED
    reversed_amount: Decimal = Decimal(0)  # what those had paid (positive)

    @property
    def kept(self) -> Decimal:
        """What the period kept for this city and mode: collected less cancelled."""
        return self.amount - self.reversed_amount


def _where(f: PaymentFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        clauses.append(sql)
        params.extend(values)

    if f.payment_id:
        add("p.id = %s", f.payment_id)
    if f.idempotency_key:
        add("p.idempotency_key = %s", f.idempotency_key)
    if f.bill_id:
        add(
            "p.id IN (SELECT payment_id FROM payment_bills WHERE bill_id = %s"
            " UNION SELECT payment_id FROM payment_bills WHERE retargeted_from = %s"
            " UNION SELECT payment_id FROM payment_targets WHERE bill_id = %s)",
            f.bill_id,
            f.bill_id,
            f.bill_id,
        )
    if f.consumer_code:
        add(
            "EXISTS (SELECT 1 FROM payment_bills b WHERE b.payment_id = p.id"
            " AND b.consumer_code = %s)",
            f.consumer_code,
        )
    if f.receipt_number:
        add(
            "EXISTS (SELECT 1 FROM payment_bills b WHERE b.payment_id = p.id"
            " AND b.receipt_number = %s)",
            f.receipt_number,
        )
    if f.mobile_last4:
        add("p.mobile_last4 = %s", f.mobile_last4)
    if f.status is not None:
        add("p.status = %s", f.status.value)
    if f.reason:
        add("(p.needs_attention_reason = %s OR p.resolution = %s)", f.reason, f.reason)
    if f.tenant_id:
        # a state tenant (pb) covers its cities (pb.amritsar, ...)
        add("(p.tenant_id = %s OR p.tenant_id LIKE %s)", f.tenant_id, f"{f.tenant_id}.%")
    if f.business_service:
        add(
            "EXISTS (SELECT 1 FROM payment_bills b WHERE b.payment_id = p.id"
            " AND b.business_service = %s)",
            f.business_service,
        )
    if f.device_name:
        add("p.device_id IN (SELECT id FROM devices WHERE name = %s)", f.device_name)
    if f.payment_mode:
        add("p.payment_mode = %s", f.payment_mode.upper())
    if f.created_since is not None:
        add("p.created_at >= %s", f.created_since)
    if f.created_before is not None:
        add("p.created_at < %s", f.created_before)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class PaymentSearch:
    """Filtered, counted, newest-first pages of payments."""

    def __init__(self, db: Database, payments: PaymentStore) -> None:
        self._db = db
        self._payments = payments

    def count(self, f: PaymentFilter) -> int:
        where, params = _where(f)
        with self._db.autocommit() as conn:
            row = conn.execute("SELECT count(*) FROM payments p" + where, params).fetchone()  # noqa: S608
        return int(row[0]) if row else 0

    def ids(self, f: PaymentFilter, *, offset: int, limit: int) -> list[str]:
        where, params = _where(f)
        sql = (
            "SELECT p.id FROM payments p"  # noqa: S608 (constant fragments, values as parameters)
            + where
            + " ORDER BY p.created_at DESC, p.id DESC OFFSET %s LIMIT %s"
        )
        with self._db.autocommit() as conn:
            return [str(r[0]) for r in conn.execute(sql, [*params, offset, limit]).fetchall()]

    def page(self, f: PaymentFilter, *, offset: int, limit: int) -> list[Payment]:
        return self._payments.get_many(self.ids(f, offset=offset, limit=limit))

    def iter_all(self, f: PaymentFilter) -> Iterator[Payment]:
        """Every matching payment, newest first, loaded EXPORT_BATCH at a time."""
        offset = 0
        while True:
            ids = self.ids(f, offset=offset, limit=EXPORT_BATCH)
            yield from self._payments.get_many(ids)
            if len(ids) < EXPORT_BATCH:
                return
            offset += EXPORT_BATCH

    def device_names(self, device_ids: Sequence[str]) -> dict[str, str]:
        """Device id -> name, for the ids that name a device."""
        if not device_ids:
            return {}
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT id, name FROM devices WHERE id = ANY(%s)", (sorted(set(device_ids)),)
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def all_device_names(self) -> list[str]:
        with self._db.autocommit() as conn:
            rows = conn.execute("SELECT name FROM devices ORDER BY name").fetchall()
        return [str(r[0]) for r in rows]

    def reasons(self) -> list[str]:
        """Every NEEDS_ATTENTION reason and resolution in the ledger (the filter's choices)."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT needs_attention_reason FROM payments WHERE needs_attention_reason"
                " IS NOT NULL UNION SELECT resolution FROM payments WHERE resolution IS NOT NULL"
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def volume(self, since: datetime, before: datetime) -> list[VolumeRow]:
        """[since, before)'s money per city and mode (VolumeRow), the most kept first.

        Collected and reversed as the collector's day counts them (store.cash, one predicate):
        accepted and not REFUSED, less each move in the period that took a payment's money back
        (to CANCELLED or DISHONOURED, or RESOLVED as REFUNDED)."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT tenant_id, payment_mode, sum(accepted), sum(accepted_amount),"  # noqa: S608 (constant fragments, values as parameters)
                " sum(reversed), sum(reversed_amount) FROM ("
                " SELECT tenant_id, payment_mode, 1 AS accepted, total_amount AS accepted_amount,"
                " 0 AS reversed, 0 AS reversed_amount FROM payments"
                " WHERE created_at >= %(since)s AND created_at < %(before)s"
                " AND status <> %(refused)s"
                " UNION ALL"
                " SELECT p.tenant_id, p.payment_mode, 0, 0, 1, p.total_amount"
                " FROM payment_history h JOIN payments p ON p.id = h.payment_id"
                f" WHERE h.at >= %(since)s AND h.at < %(before)s AND {REVERSAL}"
                ") AS moves GROUP BY tenant_id, payment_mode"
                " ORDER BY sum(accepted_amount) - sum(reversed_amount) DESC, 1, 2",
                {
                    "since": since,
                    "before": before,
                    "refused": PaymentStatus.REFUSED.value,
                    **REVERSAL_PARAMS,
                },
            ).fetchall()
        return [
            VolumeRow(
                tenant_id=str(r[0]),
                payment_mode=str(r[1]),
                count=int(r[2]),
                amount=Decimal(r[3]),
                reversed_count=int(r[4]),
                reversed_amount=Decimal(r[5]),
            )
            for r in rows
        ]
