"""The audit of operator actions in the ledger (table `operator_actions`, migration
revision 0008): every retry and resolve an operator asked for, done or refused, and every other
console action refused (cancellations, reconciliation acknowledgements, cash)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from integrator.store.db import Database


@dataclass(frozen=True, kw_only=True)
class OperatorAction:
    at: datetime
    operator: str
    via: str  # console or cli
    action: str  # retry, resolve, ...
    payment_id: str | None
    outcome: str  # done or refused
    code: str | None = None  # the refusal's code
    message: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class OperatorActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, action: OperatorAction) -> None:
        with self._db.autocommit() as conn:
            conn.execute(
                "INSERT INTO operator_actions"
                " (at, operator, via, action, payment_id, outcome, code, message, detail)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
                (
                    action.at,
                    action.operator,
                    action.via,
                    action.action,
                    action.payment_id,
                    action.outcome,
                    action.code,
                    action.message,
                    json.dumps(dict(action.detail), sort_keys=True, default=str),
                ),
            )

    def for_payment(self, payment_id: str, *, limit: int = 100) -> list[OperatorAction]:
        return self._read("WHERE payment_id = %s", (payment_id,), limit)

    def recent(self, *, limit: int = 100) -> list[OperatorAction]:
        return self._read("", (), limit)

    def _read(self, where: str, params: tuple[Any, ...], limit: int) -> list[OperatorAction]:
        sql = (
            "SELECT at, operator, via, action, payment_id, outcome, code, message,"  # noqa: S608
            " detail::text AS detail FROM operator_actions " + where + " ORDER BY seq DESC LIMIT %s"
        )
        with self._db.autocommit() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql, (*params, limit)).fetchall()
        return [
            OperatorAction(
                at=r["at"],
                operator=r["operator"],
                via=r["via"],
                action=r["action"],
                payment_id=r["payment_id"],
                outcome=r["outcome"],
                code=r["code"],
                message=r["message"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]
