"""The collector's cash in the ledger: sums of payments by device, city and mode, hand-overs, the
payments each hand-over settled, and closed days (migrations/versions/0007, 0011).

Every figure is read from what the ledger already holds, by server time:
- collected: payments accepted (created) in the period, whatever became of them later, except
  those DIGIT refused while the device waited (REFUSED: the device was told not to take the money);
- cancelled: payments whose history moved them, in the period, to CANCELLED or DISHONOURED, or to
  RESOLVED as REFUNDED (the money went back to the payer or never arrived); of which
  cancelled after hand-over: those a hand-over had settled already (cash_handover_payments);
- settled / handed over: hand-overs recorded in the period (what the ledger expected / what the
  cashier counted); their difference is the shortfall (< 0) or excess (> 0);
- in hand at a moment: payments accepted before it that no hand-over before it settled and that
  were not reversed before it.
So a correction is counted on the day it happens, and a past day's sums never move. The values
(Scope, ModeSums, Holding, Handover, ...) are the domain's: integrator/payments/cash_records.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection, errors
from psycopg.types.json import Jsonb

from integrator import jsonutil
from integrator.payments.cash_records import (
    DayAlreadyClosed,
    Handover,
    HandoverEntry,
    HeldPayment,
    Holding,
    ModeSums,
    ReversedAfterHandover,
    Scope,
)
from integrator.store.db import Database

#: Statuses (text: some are added by later migrations) that take a payment's money back.
CANCELLED_STATUSES = ("CANCELLED", "DISHONOURED")
REFUNDED = "REFUNDED"

__all__ = ["CashStore", "DayAlreadyClosed", "Handover", "ModeSums", "Scope"]

# A history entry `h` that took its payment's money back (parameters: REVERSAL_PARAMS); the ops
# overview's "kept" reads the same (store.payment_search.volume).
REVERSAL = (
    "(h.to_status = ANY(%(reversed)s) OR (h.to_status = 'RESOLVED' AND h.reason = %(refunded)s))"
)

_COLLECTED = """
SELECT tenant_id, payment_mode, sum(total_amount), count(*) FROM payments p
WHERE {scope} AND created_at >= %(start)s AND created_at < %(end)s AND status <> 'REFUSED'
GROUP BY 1, 2
"""
_CANCELLED = """
SELECT p.tenant_id, p.payment_mode, sum(p.total_amount), count(DISTINCT p.id),
       coalesce(sum(p.total_amount) FILTER (WHERE s.payment_id IS NOT NULL), 0),
       count(DISTINCT s.payment_id)
FROM payment_history h JOIN payments p ON p.id = h.payment_id
LEFT JOIN cash_handover_payments s ON s.payment_id = p.id
WHERE {scope} AND h.at >= %(start)s AND h.at < %(end)s AND {reversal}
GROUP BY 1, 2
"""
_REVERSED_AFTER_HANDOVER = """
SELECT p.id, p.tenant_id, p.payment_mode, p.total_amount,
       CASE WHEN h.to_status = 'RESOLVED' THEN h.reason ELSE h.to_status END, h.at, s.handover_id
FROM payment_history h JOIN payments p ON p.id = h.payment_id
JOIN cash_handover_payments s ON s.payment_id = p.id
WHERE {scope} AND h.at >= %(start)s AND h.at < %(end)s AND {reversal}
ORDER BY h.at, p.id
"""
_HANDED = """
SELECT tenant_id, payment_mode, sum(expected), sum(counted), sum(difference) FROM cash_handovers p
WHERE {scope} AND at >= %(start)s AND at < %(end)s GROUP BY 1, 2
"""
_HANDOVERS = """
SELECT id, device_id, tenant_id, payment_mode, expected, counted, difference, reason, cashier, at
FROM cash_handovers p WHERE {scope} AND at >= %(start)s AND at < %(end)s ORDER BY at, id
"""
# what was in hand at %(until)s: accepted before it, not settled by a hand-over before it, not
# reversed before it
_IN_HAND = """
SELECT p.tenant_id, p.payment_mode, sum(p.total_amount) FROM payments p
WHERE {scope} AND p.created_at < %(until)s AND p.status <> 'REFUSED'
  AND NOT EXISTS (SELECT 1 FROM cash_handover_payments s
                  JOIN cash_handovers c ON c.id = s.handover_id
                  WHERE s.payment_id = p.id AND c.at < %(until)s)
  AND NOT EXISTS (SELECT 1 FROM payment_history h
                  WHERE h.payment_id = p.id AND h.at < %(until)s AND {reversal})
GROUP BY 1, 2 ORDER BY 1, 2
"""
# what a device holds now of some modes, payment by payment
_HELD_PAYMENTS = """
SELECT p.id, p.tenant_id, p.payment_mode, p.total_amount FROM payments p
WHERE p.device_id = %(device_id)s AND p.payment_mode = ANY(%(modes)s) AND p.status <> 'REFUSED'
  AND NOT EXISTS (SELECT 1 FROM cash_handover_payments s WHERE s.payment_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM payment_history h WHERE h.payment_id = p.id AND {reversal})
ORDER BY p.created_at, p.id
"""
# the queries are formatted with this module's constant fragments only; values are parameters
_SCOPES = {Scope.DEVICE: "p.device_id = %(scope_id)s", Scope.CITY: "p.tenant_id = %(scope_id)s"}
REVERSAL_PARAMS = {"reversed": list(CANCELLED_STATUSES), "refunded": REFUNDED}


class CashStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def sums(self, scope: Scope, scope_id: str, start: datetime, end: datetime) -> list[ModeSums]:
        """Per (city, mode): collected, cancelled and handed over in [start, end)."""
        where = _SCOPES[scope]
        params = {"scope_id": scope_id, "start": start, "end": end, **REVERSAL_PARAMS}
        found: dict[tuple[str, str], dict[str, Any]] = {}

        def row(tenant: str, mode: str) -> dict[str, Any]:
            return found.setdefault((tenant, mode), {"tenant_id": tenant, "payment_mode": mode})

        with self._db.autocommit() as conn:
            for tenant, mode, total, count in conn.execute(
                _COLLECTED.format(scope=where), params
            ).fetchall():
                row(tenant, mode).update(collected=Decimal(total), collected_count=int(count))
            for tenant, mode, total, count, after, after_count in conn.execute(
                _CANCELLED.format(scope=where, reversal=REVERSAL), params
            ).fetchall():
                row(tenant, mode).update(
                    cancelled=Decimal(total),
                    cancelled_count=int(count),
                    cancelled_after_handover=Decimal(after),
                    cancelled_after_handover_count=int(after_count),
                )
            for tenant, mode, expected, counted, difference in conn.execute(
                _HANDED.format(scope=where), params
            ).fetchall():
                row(tenant, mode).update(
                    settled=Decimal(expected),
                    handed_over=Decimal(counted),
                    difference=Decimal(difference),
                )
        return [ModeSums(**values) for _, values in sorted(found.items())]

    def in_hand(self, scope: Scope, scope_id: str, until: datetime) -> list[Holding]:
        """Per (city, mode): what the scope's devices held at `until`."""
        params = {"scope_id": scope_id, "until": until, **REVERSAL_PARAMS}
        with self._db.autocommit() as conn:
            rows = conn.execute(
                _IN_HAND.format(scope=_SCOPES[scope], reversal=REVERSAL), params
            ).fetchall()
        return [Holding(tenant_id=r[0], payment_mode=r[1], amount=Decimal(r[2])) for r in rows]

    def held_payments(self, device_id: str, modes: Sequence[str]) -> list[HeldPayment]:
        """The payments of `modes` whose money the device holds now, oldest first."""
        with self._db.autocommit() as conn:
            return _held_payments(conn, device_id, modes)

    def reversed_after_handover(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[ReversedAfterHandover]:
        """Payments reversed in [start, end) whose money a hand-over had settled already."""
        params = {"scope_id": scope_id, "start": start, "end": end, **REVERSAL_PARAMS}
        with self._db.autocommit() as conn:
            rows = conn.execute(
                _REVERSED_AFTER_HANDOVER.format(scope=_SCOPES[scope], reversal=REVERSAL), params
            ).fetchall()
        return [
            ReversedAfterHandover(
                payment_id=r[0],
                tenant_id=r[1],
                payment_mode=r[2],
                amount=Decimal(r[3]),
                reversal=str(r[4]),
                reversed_at=r[5],
                handover_id=r[6],
            )
            for r in rows
        ]

    def settle(
        self,
        device_id: str,
        modes: Sequence[str],
        plan: Callable[[list[HeldPayment]], Sequence[HandoverEntry]],
    ) -> list[Handover]:
        """Record the hand-overs `plan` makes of what the device holds of `modes`, in one
        transaction that holds a lock on each (device, mode) from the read to the commit: a
        second hand-over of the same cash waits, then sees it settled. `plan` may raise (nothing
        is written)."""
        wanted = sorted(set(modes))  # locks taken in one order everywhere: no deadlock
        with self._db.transaction() as conn:
            for mode in wanted:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (_handover_lock(device_id, mode),),
                )
            entries = plan(_held_payments(conn, device_id, wanted))
            return [_insert_handover(conn, device_id, entry) for entry in entries]

    def handovers(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[Handover]:
        with self._db.autocommit() as conn:
            # the scope is one of this module's constant fragments; values are parameters
            sql = _HANDOVERS.format(scope=_SCOPES[scope])
            rows = conn.execute(
                sql,
                {"scope_id": scope_id, "start": start, "end": end},
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


def _handover_lock(device_id: str, mode: str) -> str:
    """The name of the advisory lock a hand-over of the device's `mode` holds (hashed to the
    lock's 64-bit key; a collision only makes two hand-overs wait for each other)."""
    return f"cash_handovers:{device_id}:{mode}"


def _held_payments(
    conn: Connection[Any], device_id: str, modes: Sequence[str]
) -> list[HeldPayment]:
    params = {"device_id": device_id, "modes": list(modes), **REVERSAL_PARAMS}
    rows = conn.execute(_HELD_PAYMENTS.format(reversal=REVERSAL), params).fetchall()
    return [
        HeldPayment(payment_id=r[0], tenant_id=r[1], payment_mode=r[2], amount=Decimal(r[3]))
        for r in rows
    ]


def _insert_handover(conn: Connection[Any], device_id: str, entry: HandoverEntry) -> Handover:
    """Insert a hand-over and the payments it settles (each once: the primary key of
    cash_handover_payments refuses a payment handed over already)."""
    handover_id = "ho_" + secrets.token_hex(10)
    row = conn.execute(
        """
        INSERT INTO cash_handovers (id, device_id, tenant_id, payment_mode, expected,
          counted, reason, cashier, at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING difference
        """,
        (
            handover_id,
            device_id,
            entry.tenant_id,
            entry.payment_mode,
            entry.expected,
            entry.counted,
            entry.reason,
            entry.cashier,
            entry.at,
        ),
    ).fetchone()
    assert row is not None
    if entry.payment_ids:
        conn.execute(
            "INSERT INTO cash_handover_payments (payment_id, handover_id)"
            " SELECT unnest(%s::text[]), %s",
            (list(entry.payment_ids), handover_id),
        )
    return Handover(
        id=handover_id,
        device_id=device_id,
        tenant_id=entry.tenant_id,
        payment_mode=entry.payment_mode,
        expected=entry.expected,
        counted=entry.counted,
        difference=Decimal(row[0]),
        reason=entry.reason,
        cashier=entry.cashier,
        at=entry.at,
    )
