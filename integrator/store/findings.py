"""Reverse-reconciliation findings and flag acknowledgements, in the ledger (PostgreSQL).

Tables (migrations/versions/0003): `reconciliation_findings` (one row per kind and DIGIT payment;
a later walk refreshes it, or clears it when the DIGIT payment is explained) and the ack columns of
`reconciliation_flags` (the forward check's flags on REGISTERED payments).

Also the ledger reads the walk needs: the (city, module) pairs payments were collected in, and
the tenants devices may collect for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from integrator import jsonutil
from integrator.payments.reconciliation_records import Finding, Scope, StoredFinding, StoredFlag
from integrator.store.db import Database
from integrator.store.reconciliation import ReconciliationStore

_FINDING_COLUMNS = (
    "id, kind, digit_payment_id, payment_id, tenant_id, business_service, digit_status, amount,"
    " receipt_numbers, bill_ids, transaction_date, ledger_status, detail::text AS detail,"
    " found_at, checked_at, cleared_at, acknowledged_at, acknowledged_by, ack_note"
)
_FLAG_COLUMNS = (
    "payment_id, reason, digit_payment_id, digit_status, flagged_at, checked_at,"
    " detail::text AS detail, acknowledged_at, acknowledged_by, ack_note"
)


def _finding(row: Mapping[str, Any]) -> StoredFinding:
    return StoredFinding(
        id=int(row["id"]),
        kind=row["kind"],
        digit_payment_id=row["digit_payment_id"],
        payment_id=row["payment_id"],
        tenant_id=row["tenant_id"],
        business_service=row["business_service"],
        digit_status=row["digit_status"],
        amount=Decimal(row["amount"]),
        receipt_numbers=tuple(row["receipt_numbers"] or ()),
        bill_ids=tuple(row["bill_ids"] or ()),
        transaction_date=row["transaction_date"],
        ledger_status=row["ledger_status"],
        detail=jsonutil.loads(row["detail"]),
        found_at=row["found_at"],
        checked_at=row["checked_at"],
        cleared_at=row["cleared_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        ack_note=row["ack_note"],
    )


def _flag(row: Mapping[str, Any]) -> StoredFlag:
    return StoredFlag(
        payment_id=row["payment_id"],
        reason=row["reason"],
        digit_payment_id=row["digit_payment_id"],
        digit_status=row["digit_status"],
        flagged_at=row["flagged_at"],
        checked_at=row["checked_at"],
        detail=jsonutil.loads(row["detail"]),
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        ack_note=row["ack_note"],
    )


class FindingStore:
    """Findings of the walk of DIGIT's payments, and acknowledgements of every flag."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- written by the walk ---

    def record(self, finding: Finding, *, at: datetime) -> bool:
        """Insert or refresh a finding; True when it is new or had been cleared (then its
        acknowledgement is dropped: it is a new occurrence)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                """
                INSERT INTO reconciliation_findings AS f
                  (kind, digit_payment_id, payment_id, tenant_id, business_service, digit_status,
                   amount, receipt_numbers, bill_ids, transaction_date, ledger_status, detail,
                   found_at, checked_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)
                ON CONFLICT (kind, digit_payment_id) DO UPDATE SET
                  payment_id = EXCLUDED.payment_id, digit_status = EXCLUDED.digit_status,
                  amount = EXCLUDED.amount, receipt_numbers = EXCLUDED.receipt_numbers,
                  bill_ids = EXCLUDED.bill_ids, ledger_status = EXCLUDED.ledger_status,
                  detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at,
                  found_at = CASE WHEN f.cleared_at IS NULL THEN f.found_at
                                  ELSE EXCLUDED.found_at END,
                  acknowledged_at = CASE WHEN f.cleared_at IS NULL THEN f.acknowledged_at END,
                  acknowledged_by = CASE WHEN f.cleared_at IS NULL THEN f.acknowledged_by END,
                  ack_note = CASE WHEN f.cleared_at IS NULL THEN f.ack_note END,
                  cleared_at = NULL
                RETURNING (xmax = 0) AS inserted,
                  (SELECT cleared_at IS NOT NULL FROM reconciliation_findings o
                    WHERE o.kind = f.kind AND o.digit_payment_id = f.digit_payment_id)
                  AS reopened
                """,
                (
                    finding.kind.value,
                    finding.digit_payment_id,
                    finding.payment_id,
                    finding.tenant_id,
                    finding.business_service,
                    finding.digit_status,
                    finding.amount,
                    list(finding.receipt_numbers),
                    list(finding.bill_ids),
                    finding.transaction_date,
                    finding.ledger_status,
                    jsonutil.dumps(dict(finding.detail)),
                    at,
                    at,
                ),
            ).fetchone()
        assert row is not None
        return bool(row[0]) or bool(row[1])

    def clear_unseen(
        self,
        *,
        scope: Scope,
        start: datetime,
        end: datetime,
        seen: Collection[tuple[str, str]],
        at: datetime,
    ) -> int:
        """Clear the open findings of `scope` whose DIGIT payment falls in [start, end) and that
        this walk did not find again; how many."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, kind, digit_payment_id FROM reconciliation_findings"
                " WHERE cleared_at IS NULL AND tenant_id = %s AND business_service = %s"
                " AND transaction_date >= %s AND transaction_date < %s FOR UPDATE",
                (scope.tenant_id, scope.module, start, end),
            ).fetchall()
            stale = [int(r[0]) for r in rows if (str(r[1]), str(r[2])) not in seen]
            if stale:
                conn.execute(
                    "UPDATE reconciliation_findings SET cleared_at = %s WHERE id = ANY(%s)",
                    (at, stale),
                )
        return len(stale)

    # --- read by ops ---

    def get(self, finding_id: int) -> StoredFinding | None:
        with self._db.transaction() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    f"SELECT {_FINDING_COLUMNS} FROM reconciliation_findings WHERE id = %s",  # noqa: S608
                    (finding_id,),
                )
                .fetchone()
            )
        return None if row is None else _finding(row)

    def findings(
        self, *, include_cleared: bool = False, unacknowledged_only: bool = False, limit: int = 200
    ) -> list[StoredFinding]:
        """Findings, newest first: open ones unless `include_cleared`."""
        where = ["TRUE"]
        if not include_cleared:
            where.append("cleared_at IS NULL")
        if unacknowledged_only:
            where.append("acknowledged_at IS NULL")
        with self._db.transaction() as conn:
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    # columns and conditions are constants of this module, values are parameters
                    f"SELECT {_FINDING_COLUMNS} FROM reconciliation_findings"  # noqa: S608
                    f" WHERE {' AND '.join(where)} ORDER BY found_at DESC, id DESC LIMIT %s",
                    (limit,),
                )
                .fetchall()
            )
        return [_finding(r) for r in rows]

    def flags(self, *, unacknowledged_only: bool = False, limit: int = 200) -> list[StoredFlag]:
        """The forward check's flags, most recently flagged first."""
        where = "WHERE acknowledged_at IS NULL" if unacknowledged_only else ""
        with self._db.transaction() as conn:
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    f"SELECT {_FLAG_COLUMNS} FROM reconciliation_flags {where}"  # noqa: S608
                    " ORDER BY flagged_at DESC, payment_id DESC LIMIT %s",
                    (limit,),
                )
                .fetchall()
            )
        return [_flag(r) for r in rows]

    def flag(self, payment_id: str) -> StoredFlag | None:
        with self._db.transaction() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    f"SELECT {_FLAG_COLUMNS} FROM reconciliation_flags WHERE payment_id = %s",  # noqa: S608
                    (payment_id,),
                )
                .fetchone()
            )
        return None if row is None else _flag(row)

    def unacknowledged(self) -> int:
        """Open findings and flags no operator has acknowledged (the alert's gauge)."""
        return ReconciliationStore(self._db).unacknowledged()

    def open_counts(self) -> dict[str, int]:
        """Open findings by kind (cleared ones left out)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT kind, count(*) FROM reconciliation_findings WHERE cleared_at IS NULL"
                " GROUP BY kind"
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # --- written by operators ---

    def acknowledge_finding(self, finding_id: int, *, by: str, note: str, at: datetime) -> bool:
        """Acknowledge an open finding; False when there is no such open finding."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE reconciliation_findings"
                " SET acknowledged_at = %s, acknowledged_by = %s, ack_note = %s"
                " WHERE id = %s AND cleared_at IS NULL",
                (at, by, note, finding_id),
            )
            return cur.rowcount > 0

    def acknowledge_flag(self, payment_id: str, *, by: str, note: str, at: datetime) -> bool:
        """Acknowledge a payment's flag; False when the payment is not flagged."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE reconciliation_flags"
                " SET acknowledged_at = %s, acknowledged_by = %s, ack_note = %s"
                " WHERE payment_id = %s",
                (at, by, note, payment_id),
            )
            return cur.rowcount > 0

    # --- what the walk covers ---

    def collected_scopes(self, since: datetime, until: datetime) -> list[tuple[str, str]]:
        """(city, module) pairs of payments accepted in [since, until)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT DISTINCT p.tenant_id, b.business_service FROM payments p"
                " JOIN payment_bills b ON b.payment_id = p.id"
                " WHERE p.created_at >= %s AND p.created_at < %s",
                (since, until),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def device_tenants(self) -> list[str]:
        """Every tenant scope of a device that is not revoked."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT DISTINCT unnest(tenants) FROM devices WHERE revoked_at IS NULL"
            ).fetchall()
        return sorted(str(r[0]) for r in rows)
