"""The collector's cash in the ledger: sums of payments by device, city and mode, hand-overs and
closed days (migrations/versions/0007).

Every figure is read from what the ledger already holds, by server time:
- collected: payments accepted (created) in the period, whatever became of them later, except
  those DIGIT refused while the device waited (REFUSED: the device was told not to take the money);
- cancelled: payments whose history moved them, in the period, to CANCELLED or DISHONOURED, or to
  RESOLVED as REFUNDED (the money went back to the payer or never arrived);
- settled / handed over: hand-overs recorded in the period (what the ledger expected / what the
  cashier counted); their difference is the shortfall (< 0) or excess (> 0).
So a correction is counted on the day it happens, and a past day's sums never move. The values
(Scope, ModeSums, Handover, DayAlreadyClosed) are the domain's: integrator/payments/cash_records.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import errors
from psycopg.types.json import Jsonb

from integrator import jsonutil
from integrator.payments.cash_records import DayAlreadyClosed, Handover, ModeSums, Scope
from integrator.store.db import Database

#: Statuses (text: some are added by later migrations) that take a payment's money back.
CANCELLED_STATUSES = ("CANCELLED", "DISHONOURED")
REFUNDED = "REFUNDED"

__all__ = ["CashStore", "DayAlreadyClosed", "Handover", "ModeSums", "Scope"]


_COLLECTED = """
SELECT tenant_id, payment_mode, sum(total_amount), count(*) FROM payments p
WHERE {scope} AND created_at >= %s AND created_at < %s AND status <> 'REFUSED' GROUP BY 1, 2
"""
_CANCELLED = """
SELECT p.tenant_id, p.payment_mode, sum(p.total_amount), count(DISTINCT p.id)
FROM payment_history h JOIN payments p ON p.id = h.payment_id
WHERE {scope} AND h.at >= %s AND h.at < %s
  AND (h.to_status = ANY(%s) OR (h.to_status = 'RESOLVED' AND h.reason = %s))
GROUP BY 1, 2
"""
_HANDED = """
SELECT tenant_id, payment_mode, sum(expected), sum(counted), sum(difference) FROM cash_handovers p
WHERE {scope} AND at >= %s AND at < %s GROUP BY 1, 2
"""
_HANDOVERS = """
SELECT id, device_id, tenant_id, payment_mode, expected, counted, difference, reason, cashier, at
FROM cash_handovers p WHERE {scope} AND at >= %s AND at < %s ORDER BY at, id
"""
_SCOPES = {Scope.DEVICE: "p.device_id = %s", Scope.CITY: "p.tenant_id = %s"}


class CashStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def sums(self, scope: Scope, scope_id: str, start: datetime, end: datetime) -> list[ModeSums]:
        """Per (city, mode): collected, cancelled and handed over in [start, end)."""
        where = _SCOPES[scope]
        found: dict[tuple[str, str], dict[str, Any]] = {}

        def row(tenant: str, mode: str) -> dict[str, Any]:
            return found.setdefault((tenant, mode), {"tenant_id": tenant, "payment_mode": mode})

        with self._db.autocommit() as conn:
            for tenant, mode, total, count in conn.execute(
                _COLLECTED.format(scope=where), (scope_id, start, end)
            ).fetchall():
                row(tenant, mode).update(collected=Decimal(total), collected_count=int(count))
            for tenant, mode, total, count in conn.execute(
                _CANCELLED.format(scope=where),
                (scope_id, start, end, list(CANCELLED_STATUSES), REFUNDED),
            ).fetchall():
                row(tenant, mode).update(cancelled=Decimal(total), cancelled_count=int(count))
            for tenant, mode, expected, counted, difference in conn.execute(
                _HANDED.format(scope=where), (scope_id, start, end)
            ).fetchall():
                row(tenant, mode).update(
                    settled=Decimal(expected),
                    handed_over=Decimal(counted),
                    difference=Decimal(difference),
                )
        return [ModeSums(**values) for _, values in sorted(found.items())]

    def record_handover(
        self,
        *,
        device_id: str,
        tenant_id: str,
        payment_mode: str,
        expected: Decimal,
        counted: Decimal,
        reason: str | None,
        cashier: str,
        at: datetime,
    ) -> Handover:
        handover_id = "ho_" + secrets.token_hex(10)
        with self._db.transaction() as conn:
            row = conn.execute(
                """
                INSERT INTO cash_handovers (id, device_id, tenant_id, payment_mode, expected,
                  counted, reason, cashier, at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING difference
                """,
                (
                    handover_id,
                    device_id,
                    tenant_id,
                    payment_mode,
                    expected,
                    counted,
                    reason,
                    cashier,
                    at,
                ),
            ).fetchone()
        assert row is not None
        return Handover(
            id=handover_id,
            device_id=device_id,
            tenant_id=tenant_id,
            payment_mode=payment_mode,
            expected=expected,
            counted=counted,
            difference=Decimal(row[0]),
            reason=reason,
            cashier=cashier,
            at=at,
        )

    def handovers(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[Handover]:
        with self._db.autocommit() as conn:
            # the scope is one of this module's constant fragments; values are parameters
            sql = _HANDOVERS.format(scope=_SCOPES[scope])
            rows = conn.execute(
                sql,
                (scope_id, start, end),
            ).fetchall()
        return [
            Handover(
                id=r[0],
                device_id=r[1],
                tenant_id=r[2],
                payment_mode=r[3],
                expected=Decimal(r[4]),
                counted=Decimal(r[5]),
                difference=Decimal(r[6]),
                reason=r[7],
                cashier=r[8],
                at=r[9],
            )
            for r in rows
        ]

    # --- closed days ---

    def close_day(
        self,
        scope: Scope,
        scope_id: str,
        day: date,
        *,
        figures: Mapping[str, Any],
        closed_by: str,
        at: datetime,
    ) -> None:
        """Store a day's figures once; DayAlreadyClosed when it is (the primary key decides)."""
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO day_closes (scope, scope_id, day, closed_at, closed_by, figures)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        scope.value,
                        scope_id,
                        day,
                        at,
                        closed_by,
                        Jsonb(dict(figures), dumps=jsonutil.dumps),
                    ),
                )
        except errors.UniqueViolation:
            raise DayAlreadyClosed(f"{scope.value} {scope_id}: {day} is closed already") from None

    def closed_day(
        self, scope: Scope, scope_id: str, day: date
    ) -> tuple[datetime, str, dict[str, Any]] | None:
        """(closed at, by whom, the stored figures) of a closed day; None if it is open."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT closed_at, closed_by, figures::text FROM day_closes"
                " WHERE scope = %s AND scope_id = %s AND day = %s",
                (scope.value, scope_id, day),
            ).fetchone()
        if row is None:
            return None
        return row[0], str(row[1]), jsonutil.loads(row[2])
