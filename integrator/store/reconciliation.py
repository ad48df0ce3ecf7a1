"""Reconciliation results in the ledger (PostgreSQL): why a REGISTERED payment was flagged, and
the summary of each run.

Tables (migrations/versions/0002): `reconciliation_flags` (one row per flagged payment: reason,
DIGIT payment id and status, flagged_at, checked_at, detail) and `reconciliation_runs` (one row
per finished run; `last_run` reads the newest, `last_runs` the newest, or newest complete, of
each kind). A flag is set once (`flag` answers whether it is new; a refresh keeps
`flagged_at`, and its acknowledgement while the reason stays the same) and cleared when DIGIT
shows the payment live again. Since 0003 a flag carries an operator's acknowledgement (who,
when, note: written by store.findings) and `unacknowledged` counts what no operator has
acknowledged, flags and the walk's findings together (the alert's gauge).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from integrator.payments.reconciliation_records import FORWARD_RUN
from integrator.store.db import Database


@dataclass(frozen=True, kw_only=True)
class Flag:
    """Why reconciliation flagged a payment."""

    payment_id: str
    reason: str  # MISSING, CANCELLED, DISHONOURED, NOT_LIVE, DUPLICATE_IN_DIGIT, REMITTED
    digit_payment_id: str | None
    digit_status: str | None
    flagged_at: datetime
    checked_at: datetime
    detail: Mapping[str, Any]
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None


def _json(value: Mapping[str, Any]) -> str:
    # as the summaries always were: what JSON cannot hold (datetimes...) becomes its str()
    return json.dumps(dict(value), sort_keys=True, default=str)


class ReconciliationStore:
    """Flags on payments, the flagged index and the last run's summary."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def flag(
        self,
        payment_id: str,
        *,
        reason: str,
        digit_payment_id: str | None,
        digit_status: str | None,
        at: datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Flag (or refresh the flag of) a payment; True when it was not flagged before."""
        with self._db.transaction() as conn:
            row = conn.execute(
                """
                INSERT INTO reconciliation_flags AS f
                  (payment_id, reason, digit_payment_id, digit_status, flagged_at, checked_at,
                   detail)
                VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)
                ON CONFLICT (payment_id) DO UPDATE
                  SET reason = EXCLUDED.reason, digit_payment_id = EXCLUDED.digit_payment_id,
                      digit_status = EXCLUDED.digit_status, checked_at = EXCLUDED.checked_at,
                      detail = EXCLUDED.detail,
                      -- an acknowledgement covers what was acknowledged: a new reason needs a
                      -- new one
                      acknowledged_at = CASE WHEN f.reason = EXCLUDED.reason
                                             THEN f.acknowledged_at END,
                      acknowledged_by = CASE WHEN f.reason = EXCLUDED.reason
                                             THEN f.acknowledged_by END,
                      ack_note = CASE WHEN f.reason = EXCLUDED.reason THEN f.ack_note END
                RETURNING (xmax = 0) AS inserted
                """,
                (
                    payment_id,
                    reason,
                    digit_payment_id or None,
                    digit_status or None,
                    at,
                    at,
                    _json(detail or {}),
                ),
            ).fetchone()
        assert row is not None
        return bool(row[0])

    def clear(self, payment_id: str) -> bool:
        """Remove a payment's flag; True when there was one."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM reconciliation_flags WHERE payment_id = %s", (payment_id,)
            )
            return cur.rowcount > 0

    def get(self, payment_id: str) -> Flag | None:
        with self._db.transaction() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    "SELECT reason, digit_payment_id, digit_status, flagged_at, checked_at,"
                    " detail::text AS detail, acknowledged_at, acknowledged_by, ack_note"
                    " FROM reconciliation_flags WHERE payment_id = %s",
                    (payment_id,),
                )
                .fetchone()
            )
        if row is None:
            return None
        return Flag(
            payment_id=payment_id,
            reason=row["reason"],
            digit_payment_id=row["digit_payment_id"],
            digit_status=row["digit_status"],
            flagged_at=row["flagged_at"],
            checked_at=row["checked_at"],
            detail=json.loads(row["detail"]),
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
            ack_note=row["ack_note"],
        )

    def flagged_ids(self, *, offset: int = 0, limit: int = 100) -> list[str]:
        """Flagged payment ids, most recently flagged first (the ops console lists these)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT payment_id FROM reconciliation_flags"
                " ORDER BY flagged_at DESC, payment_id DESC OFFSET %s LIMIT %s",
                (offset, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def is_flagged(self, payment_id: str) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM reconciliation_flags WHERE payment_id = %s", (payment_id,)
            ).fetchone()
        return row is not None

    def count(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM reconciliation_flags").fetchone()
        return 0 if row is None else int(row[0])

    def unacknowledged(self) -> int:
        """Open reconciliation flags and findings no operator has acknowledged (the alert)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM reconciliation_findings"
                "         WHERE cleared_at IS NULL AND acknowledged_at IS NULL)"
                "     + (SELECT count(*) FROM reconciliation_flags WHERE acknowledged_at IS NULL)"
            ).fetchone()
        return 0 if row is None else int(row[0])

    def save_last_run(self, summary: Mapping[str, Any]) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO reconciliation_runs (summary) VALUES (%s::jsonb)", (_json(summary),)
            )

    def last_runs(self, *, complete_only: bool = False) -> dict[str, dict[str, Any]]:
        """The newest summary of each kind of run (`run`; the forward check's summaries before
        it was named have none), or of each kind's newest complete run: `complete`, not stopped,
        and no city or module left unsearched. Kinds that never ran are absent."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (kind) kind, summary::text FROM ("
                "  SELECT seq, COALESCE(summary->>'run', %(forward)s) AS kind, summary"
                "  FROM reconciliation_runs"
                "  WHERE NOT %(complete_only)s OR ("
                "    (summary->>'complete')::boolean IS TRUE"
                "    AND summary->>'stopped_by' IS NULL"
                "    AND COALESCE(jsonb_array_length(summary->'unsearchable'), 0) = 0)"
                ") r ORDER BY kind, seq DESC",
                {"forward": FORWARD_RUN, "complete_only": complete_only},
            ).fetchall()
        return {kind: json.loads(text) for kind, text in rows}

    def last_run(self) -> dict[str, Any]:
        """The newest run's summary ({} before the first run)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT summary::text FROM reconciliation_runs ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return {}
        loaded: dict[str, Any] = json.loads(row[0])
        return loaded
