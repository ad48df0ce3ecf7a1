"""Cancellation (reversal) requests in the ledger (migrations/versions/0004_cancellations.py).

Implements `integrator.payments.cancellation.CancellationRequests`. The rules live in the table:
one live request per payment (a partial UNIQUE index: RequestExists), the decider is never the
requester (CHECK); saves compare the version read (RequestChanged).

While a DONE request's dues are FOLLOWING, its payment's consumers carry a `reversal:` member in
their open-payment marks (integrator.store.open_claims), so that GET /v1/bills learns from the
marks it already reads that the bills it shows may predate the reversal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from redis import RedisError

from integrator import jsonutil
from integrator.payments.cancellation_records import (
    Action,
    CancellationRequest,
    DuesState,
    RequestChanged,
    RequestExists,
    RequestState,
)
from integrator.store.db import Database
from integrator.store.open_claims import Consumer, OpenClaimMarks

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, payment_id, action, reason, requested_by, requested_at, state, decided_by, decided_at,"
    " decision_note, digit_codes, digit_message, digit_answer, sent_at, completed_at,"
    " bills_before, dues_state, successor_bills, dues_checked_at, version"
)

_INSERT = f"INSERT INTO cancellation_requests ({_COLUMNS}) VALUES ({', '.join(['%s'] * 20)})"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM cancellation_requests "  # noqa: S608


def _json(value: Any) -> Jsonb:
    # through the project's encoder: Decimal and datetimes as it writes them everywhere
    return Jsonb(jsonutil.loads(jsonutil.dumps(value)))


def _request(row: dict[str, Any]) -> CancellationRequest:
    return CancellationRequest(
        id=row["id"],
        payment_id=row["payment_id"],
        action=Action(row["action"]),
        reason=row["reason"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        state=RequestState(row["state"]),
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        digit_codes=tuple(row["digit_codes"] or ()),
        digit_message=row["digit_message"],
        digit_answer=row["digit_answer"],
        sent_at=row["sent_at"],
        completed_at=row["completed_at"],
        bills_before=tuple(row["bills_before"] or ()),
        dues_state=DuesState(row["dues_state"]) if row["dues_state"] else None,
        successor_bills=dict(row["successor_bills"] or {}),
        dues_checked_at=row["dues_checked_at"],
        version=row["version"],
    )


def _reopening(request: CancellationRequest) -> bool:
    return request.state is RequestState.DONE and request.dues_state is DuesState.FOLLOWING


class CancellationStore:
    def __init__(self, db: Database, *, claim_marks: OpenClaimMarks | None = None) -> None:
        self._db = db
        self._marks = claim_marks

    def add(self, request: CancellationRequest) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    _INSERT,
                    self._values(request),
                )
        except errors.UniqueViolation as exc:
            raise RequestExists(request.payment_id) from exc

    @staticmethod
    def _values(r: CancellationRequest) -> tuple[Any, ...]:
        return (
            r.id,
            r.payment_id,
            r.action.value,
            r.reason,
            r.requested_by,
            r.requested_at,
            r.state.value,
            r.decided_by,
            r.decided_at,
            r.decision_note,
            list(r.digit_codes),
            r.digit_message,
            _json(r.digit_answer) if r.digit_answer is not None else None,
            r.sent_at,
            r.completed_at,
            _json(list(r.bills_before)),
            r.dues_state.value if r.dues_state else None,
            _json(dict(r.successor_bills)),
            r.dues_checked_at,
            r.version,
        )

    def save(self, request: CancellationRequest) -> CancellationRequest:
        """Compare-and-set on `version`. Entering dues FOLLOWING marks the consumers before the
        commit; leaving it unmarks them after (see the module docstring)."""
        # a mark left by a save that then failed is harmless: the ledger is asked and says no
        was = self._stored_reopening(request.id)
        entering, leaving = _reopening(request) and not was, was and not _reopening(request)
        consumers = self._consumers(request) if entering or leaving else []
        if entering:
            self._mark(request, consumers)
        stored = self._update(request)
        if leaving and self._marks is not None:
            # after the commit; a failure leaves a harmless leftover (unmark never raises)
            self._marks.unmark(OpenClaimMarks.reversal_member(stored.id), consumers)
        return stored

    def _stored_reopening(self, request_id: str) -> bool:
        if self._marks is None:
            return False
        stored = self.get(request_id)
        return stored is not None and _reopening(stored)

    def _mark(self, request: CancellationRequest, consumers: list[Consumer]) -> None:
        if self._marks is None:
            return
        try:
            self._marks.mark(OpenClaimMarks.reversal_member(request.id), consumers)
        except RedisError:
            # DIGIT has reversed the payment: the ledger must say so whatever Redis does; the
            # device only misses the hint beside a bill (a consumer without bills reads the
            # ledger anyway)
            log.warning("reversal not marked on its consumers", extra={"request_id": request.id})

    def _consumers(self, request: CancellationRequest) -> list[Consumer]:
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT DISTINCT p.tenant_id, b.business_service, b.consumer_code"
                " FROM payment_bills b JOIN payments p ON p.id = b.payment_id"
                " WHERE p.id = %s",
                (request.payment_id,),
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def reopening_marks(self) -> list[tuple[str, str, str, str]]:
        """Every reversal whose dues are FOLLOWING, as (tenant, service, consumer, member) for
        each consumer of its payment: what a rebuild of the marks adds to the open claims."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT DISTINCT p.tenant_id, b.business_service, b.consumer_code, c.id"
                " FROM cancellation_requests c JOIN payments p ON p.id = c.payment_id"
                " JOIN payment_bills b ON b.payment_id = p.id"
                " WHERE c.state = 'DONE' AND c.dues_state = 'FOLLOWING'"
            ).fetchall()
        return [
            (str(r[0]), str(r[1]), str(r[2]), OpenClaimMarks.reversal_member(str(r[3])))
            for r in rows
        ]

    def _update(self, request: CancellationRequest) -> CancellationRequest:
        stored = replace(request, version=request.version + 1)
        values = self._values(stored)
        try:
            with self._db.transaction() as conn:
                row = conn.execute(
                    """
                    UPDATE cancellation_requests SET state = %s, decided_by = %s,
                      decided_at = %s, decision_note = %s, digit_codes = %s,
                      digit_message = %s, digit_answer = %s, sent_at = %s, completed_at = %s,
                      bills_before = %s, dues_state = %s, successor_bills = %s,
                      dues_checked_at = %s, version = %s
                    WHERE id = %s AND version = %s
                    RETURNING id
                    """,
                    (*values[6:], request.id, request.version),
                ).fetchone()
        except errors.UniqueViolation as exc:
            raise RequestExists(request.payment_id) from exc
        if row is None:
            raise RequestChanged(request.id)
        return stored

    def _select(self, where: str, params: Sequence[Any]) -> list[CancellationRequest]:
        with self._db.autocommit() as conn, conn.cursor(row_factory=dict_row) as cur:
            # `where` is one of this module's literals; values always go as parameters
            cur.execute(_SELECT + where, params)
            return [_request(row) for row in cur.fetchall()]

    def get(self, request_id: str) -> CancellationRequest | None:
        found = self._select("WHERE id = %s", (request_id,))
        return found[0] if found else None

    def for_payment(self, payment_id: str) -> list[CancellationRequest]:
        return self._select(
            "WHERE payment_id = %s ORDER BY requested_at DESC, id DESC", (payment_id,)
        )

    def recent(
        self, *, states: Sequence[RequestState] = (), limit: int = 100
    ) -> list[CancellationRequest]:
        if states:
            return self._select(
                "WHERE state = ANY(%s) ORDER BY requested_at DESC, id DESC LIMIT %s",
                ([s.value for s in states], limit),
            )
        return self._select("ORDER BY requested_at DESC, id DESC LIMIT %s", (limit,))

    def awaiting_dues(
        self, *, tenant_id: str, business_service: str, consumer_code: str
    ) -> list[CancellationRequest]:
        """DONE requests whose dues are still FOLLOWING, for payments of this consumer."""
        return self._select(
            "WHERE state = 'DONE' AND dues_state = 'FOLLOWING' AND payment_id IN ("
            " SELECT b.payment_id FROM payment_bills b JOIN payments p ON p.id = b.payment_id"
            " WHERE p.tenant_id = %s AND b.business_service = %s AND b.consumer_code = %s)"
            " ORDER BY completed_at DESC, id DESC",
            (tenant_id, business_service, consumer_code),
        )

    def following_dues(self) -> list[CancellationRequest]:
        return self._select(
            "WHERE state = 'DONE' AND dues_state = 'FOLLOWING' ORDER BY completed_at, id", ()
        )

    def completed_between(self, start: datetime, end: datetime) -> list[CancellationRequest]:
        """Requests DIGIT carried out in [start, end) (the settlement report's reversals)."""
        return self._select(
            "WHERE state = 'DONE' AND completed_at >= %s AND completed_at < %s"
            " ORDER BY completed_at DESC, id DESC",
            (start, end),
        )
