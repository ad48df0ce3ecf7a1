"""Payments in the ledger (PostgreSQL): one transaction accepts a payment; guarded saves after.
Implements `integrator.payments.ports.PaymentLedger`; its refusals are declared there:

    PaymentStoreError
    ├── PaymentNotFound
    ├── StaleFence                  the attempt's lease expired or was taken over: write nothing
    ├── ConcurrentModification      the payment changed since it was read: reload and decide again
    └── IntegrityRefused            create_sent cleared, targeted billIds shrank, the payment's
        │                           consumers changed, or a claim it would take is held:
        ├── ConsumerHeld            another open payment holds a consumer it would reopen
        └── BillHeld                another live payment pays a bill it would make live

Tables (migrations/versions/0001_ledger.py): `payments` (one row, with the lease and fence),
`payment_bills` (one row per bill, `live` unless the payment was closed by an operator),
`payment_consumers` (`open` until the payment is final), `payment_targets` (every bill id ever
sent to DIGIT, append-only), `payment_history` (append-only), `idempotency_keys`.

The claims follow the status a save writes: PENDING holds its consumers (`open`) and its bills
(`live`), reopening them when the payment comes back from NEEDS_ATTENTION (an operator's retry of a
quarantined offline payment, stored without claims: integrator.store.offline), so the partial
unique indexes refuse the retry while another payment holds them; NEEDS_ATTENTION keeps the claims
as they are; a final status releases the consumers, and RESOLVED or REFUSED the bills.

Status changes are decided by the domain (`payments.states`); this store only compares and sets:
a save applies when the stored version is the one the caller read (and, during a registration
attempt, when the caller's fence still holds the lease), so a decision taken on a stale copy is
never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from integrator.payments.cash_records import OfflineArrival
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import (
    BillHeld,
    ConcurrentModification,
    ConsumerHeld,
    CreateOutcome,
    CreateResult,
    IntegrityRefused,
    LeaseAfterSave,
    PaymentNotFound,
    PaymentPage,
    PaymentStoreError,
    StaleFence,
)
from integrator.store.cash import REVERSAL, REVERSAL_PARAMS
from integrator.store.codec import payment_from_dict
from integrator.store.db import Database
from integrator.store.open_claims import OpenClaimMarks

__all__ = [
    "BillHeld",
    "ConcurrentModification",
    "ConsumerHeld",
    "CreateOutcome",
    "CreateResult",
    "IntegrityRefused",
    "LeaseAfterSave",
    "PaymentNotFound",
    "PaymentPage",
    "PaymentStore",
    "PaymentStoreError",
    "StaleFence",
]

#: The fencing token of a payment inserted holding its lease (fences only grow from 0).
FIRST_FENCE = 1

#: Statuses in which a payment holds its consumers (REGISTERED and RESOLVED are final).
_OPEN = (PaymentStatus.PENDING.value, PaymentStatus.NEEDS_ATTENTION.value)
# the status a save keeps the stored claims in (a quarantined payment holds none: store.offline)
_KEEPS_CLAIMS = PaymentStatus.NEEDS_ATTENTION
# statuses in which a payment's bills are free again: closed by an operator, or refused by DIGIT
_NOT_LIVE = frozenset({PaymentStatus.RESOLVED, PaymentStatus.REFUSED})


#: A payment row `p` with its bills, targets and history: what `payment_from_dict` reads.
PAYMENT_COLUMNS = """
p.*,
  (SELECT coalesce(json_agg(b ORDER BY b.position), '[]'::json)
     FROM payment_bills b WHERE b.payment_id = p.id) AS bills,
  (SELECT coalesce(array_agg(t.bill_id ORDER BY t.bill_id), '{}')
     FROM payment_targets t WHERE t.payment_id = p.id) AS targeted_bill_ids,
  (SELECT coalesce(json_agg(h ORDER BY h.seq), '[]'::json)
     FROM payment_history h WHERE h.payment_id = p.id) AS history
"""

_SELECT = "SELECT " + PAYMENT_COLUMNS + " FROM payments p\n"  # noqa: S608 (constants only)


def _payment(row: dict[str, Any]) -> Payment:
    return payment_from_dict(row)


def _mobile_last4(payment: Payment) -> str | None:
    return payment.mobile_last4


def _history_rows(payment: Payment, start: int) -> list[tuple[Any, ...]]:
    return [
        (
            payment.id,
            seq,
            entry.at,
            entry.actor,
            entry.event,
            None if entry.from_status is None else entry.from_status.value,
            None if entry.to_status is None else entry.to_status.value,
            entry.reason,
            list(entry.codes),
            entry.latency_ms,
            Jsonb(dict(entry.detail), dumps=_dumps),
            entry.count,
            entry.last_at,
        )
        for seq, entry in enumerate(payment.history)
        if seq >= start
    ]


def lease_ttl(ttl_seconds: float) -> timedelta:
    """A lease's time to live, as PostgreSQL's interval."""
    if ttl_seconds <= 0:
        raise ValueError("a lease needs a positive TTL")
    return timedelta(seconds=ttl_seconds)


def _lease_until(lease: LeaseAfterSave, ttl_seconds: float) -> tuple[str, tuple[Any, ...]]:
    """The SQL for `payments.lease_until` after a save, and its parameters."""
    if lease is LeaseAfterSave.RENEW:
        return "clock_timestamp() + %s", (lease_ttl(ttl_seconds),)
    if lease is LeaseAfterSave.RELEASE:
        return "NULL", ()
    return "lease_until", ()


def _dumps(value: Any) -> str:
    from integrator import jsonutil

    return jsonutil.dumps(value)


_INSERT_HISTORY = """
INSERT INTO payment_history (payment_id, seq, at, actor, event, from_status, to_status, reason,
  codes, latency_ms, detail, repeat_count, last_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

# the one change a stored history entry allows: one more identical attempt counted on it
_COUNT_REPEAT = """
UPDATE payment_history SET repeat_count = %s, last_at = %s
WHERE payment_id = %s AND seq = %s AND repeat_count < %s
"""


class PaymentStore:
    """Payments, their consumer claims, bills, targets and history, in the ledger."""

    def __init__(self, db: Database, *, claim_marks: OpenClaimMarks | None = None) -> None:
        # Without marks nothing reads them either (ServedBills then asks the ledger every time);
        # the services always pass them: see integrator.store.open_claims.
        self._db = db
        self._marks = claim_marks

    # --- writes ---

    def create(
        self,
        payment: Payment,
        *,
        lease_seconds: float | None = None,
        offline: OfflineArrival | None = None,
    ) -> CreateResult:
        """Accept a new PENDING payment: the payment, its bills, its consumer claims, the
        idempotency record and the first history entries, in one transaction.

        Nothing is written unless the outcome is CREATED. REPLAY: the device's key already made a
        payment for the same fingerprint (its id). MISMATCH: the key made a payment for another
        request. CONFLICT: a consumer of this payment has an open payment (its id). BILL_TAKEN: a
        bill is paid by another live payment (its id). With `lease_seconds` the row is inserted
        holding its registration lease (fence 1, `lease_until` on the database's clock), which
        CREATED returns: the first attempt starts without a write of its own. With `offline` (an
        offline upload's payment) its offline mark is written in the same transaction, so the
        fingerprint the device sent and what the upload did are never missing from a payment.
        """
        if lease_seconds is not None and lease_seconds <= 0:
            raise ValueError("a lease needs a positive TTL")
        if payment.status is not PaymentStatus.PENDING:
            raise ValueError("a new payment must be PENDING")
        if not payment.bills:
            raise ValueError("a payment needs at least one bill")
        if self._marks is None:
            return self._create(payment, lease_seconds, offline)
        # marked before the claims can commit, unmarked only when nothing was written: an
        # exception may hide a commit, so it leaves the mark (a leftover costs one ledger read)
        self._marks.mark(payment.id, payment.consumer_keys)
        result = self._create(payment, lease_seconds, offline)
        if result.outcome is not CreateOutcome.CREATED and result.payment_id != payment.id:
            # (a replay of this very payment, committed by an earlier call, keeps its mark)
            self._marks.unmark(payment.id, payment.consumer_keys)
        return result

    def _create(
        self, payment: Payment, lease_seconds: float | None, offline: OfflineArrival | None
    ) -> CreateResult:
        try:
            # One round trip for the whole transaction (see `_in_one_round_trip`). A key that
            # already made a payment is not looked up first: the payment row's UNIQUE (device,
            # key) refuses it (the first insert), and `_conflict` then answers REPLAY or MISMATCH
            # from the record. The claim looked a moment ago, so that is a race between two
            # requests with one key, or a marker Redis lost.
            with self._db.autocommit() as conn:
                _in_one_round_trip(conn, self._acceptance(payment, lease_seconds, offline))
        except errors.UniqueViolation as exc:
            return self._conflict(payment, exc)
        return CreateResult(
            outcome=CreateOutcome.CREATED,
            payment_id=payment.id,
            fence=FIRST_FENCE if lease_seconds is not None else None,
        )

    def _bound_key(self, conn: psycopg.Connection[Any], payment: Payment) -> CreateResult | None:
        """The record of (device, key), locked for this transaction; a result if it is bound."""
        row = conn.execute(
            "SELECT fingerprint, payment_id FROM idempotency_keys"
            " WHERE device_id = %s AND key = %s FOR UPDATE",
            (payment.device_id, payment.idempotency_key),
        ).fetchone()
        if row is None or row[1] is None:
            return None
        same = row[0] == payment.fingerprint
        outcome = CreateOutcome.REPLAY if same else CreateOutcome.MISMATCH
        return CreateResult(outcome=outcome, payment_id=row[1])

    @staticmethod
    def _acceptance(
        payment: Payment,
        lease_seconds: float | None = None,
        offline: OfflineArrival | None = None,
    ) -> list[tuple[str, Sequence[Any]]]:
        """The statements (query, parameters) that write a new payment, in order."""
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                """
            INSERT INTO payments (id, device_id, idempotency_key, fingerprint, status, tenant_id,
              payment_mode, paid_by, payer_name, mobile_number, mobile_last4, instrument_number,
              instrument_date, transaction_number, collected_at, created_at, provisional,
              attempts, last_error, create_sent, total_amount, version, history_length,
              fence, lease_until)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s, %s, %s, %s, %s, clock_timestamp() + %s)
            """,
                (
                    payment.id,
                    payment.device_id,
                    payment.idempotency_key,
                    payment.fingerprint,
                    payment.status.value,
                    payment.tenant_id,
                    payment.payment_mode,
                    payment.paid_by,
                    payment.payer_name,
                    payment.mobile_number,
                    _mobile_last4(payment),
                    payment.instrument_number,
                    payment.instrument_date,
                    payment.transaction_number,
                    payment.collected_at,
                    payment.created_at,
                    payment.provisional,
                    payment.attempts,
                    payment.last_error,
                    payment.create_sent,
                    payment.total_amount,
                    payment.version,
                    len(payment.history),
                    0 if lease_seconds is None else FIRST_FENCE,
                    None if lease_seconds is None else timedelta(seconds=lease_seconds),
                ),
            )
        ]
        # consumers first: a consumer with an open payment is "in progress" (409), which says
        # more than "bill taken" when both hold
        statements += [
            (
                "INSERT INTO payment_consumers"
                " (payment_id, tenant_id, business_service, consumer_code, open)"
                " VALUES (%s, %s, %s, %s, true)",
                (payment.id, *c),
            )
            for c in payment.consumer_keys
        ]
        statements += [
            (
                """
                INSERT INTO payment_bills (payment_id, position, bill_id, bill_number,
                  consumer_code, business_service, amount, total_due, receipt_number,
                  receipt_date, retargeted_from, balance_left, live)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)
                """,
                (
                    payment.id,
                    i,
                    b.bill_id,
                    b.bill_number,
                    b.consumer_code,
                    b.business_service,
                    b.amount,
                    b.total_due,
                    b.receipt_number,
                    b.receipt_date,
                    b.retargeted_from,
                    b.balance_left,
                ),
            )
            for i, b in enumerate(payment.bills)
        ]
        statements += [
            ("INSERT INTO payment_targets (payment_id, bill_id) VALUES (%s, %s)", (payment.id, b))
            for b in sorted(payment.targeted_bill_ids)
        ]
        statements += [(_INSERT_HISTORY, row) for row in _history_rows(payment, 0)]
        statements.append(
            (
                """
            INSERT INTO idempotency_keys (device_id, key, fingerprint, payment_id)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (device_id, key) DO UPDATE
              SET fingerprint = EXCLUDED.fingerprint, payment_id = EXCLUDED.payment_id,
                  claim_token = NULL, claimed_at = NULL
            """,
                (payment.device_id, payment.idempotency_key, payment.fingerprint, payment.id),
            )
        )
        if offline is not None:
            statements.append(
                (
                    "INSERT INTO offline_payments (payment_id, device_id, request_fingerprint,"
                    " collected_at, uploaded_at, quarantined, detail)"
                    " VALUES (%s, %s, %s, %s, %s, false, %s)",
                    (
                        payment.id,
                        payment.device_id,
                        offline.request_fingerprint,
                        offline.collected_at,
                        payment.created_at,
                        Jsonb(dict(offline.detail), dumps=_dumps),
                    ),
                )
            )
        return statements

    def _conflict(self, payment: Payment, exc: errors.UniqueViolation) -> CreateResult:
        """Which rule refused the payment, and who holds what it wanted (read after rollback)."""
        constraint = exc.diag.constraint_name or ""
        if constraint == "payments_one_per_idempotency_key":
            # a concurrent identical request won the race between our check and our insert
            with self._db.transaction() as conn:
                replayed = self._bound_key(conn, payment)
            if replayed is not None:
                return replayed
            raise exc
        if constraint == "payment_bills_one_live_payment_per_bill":
            for bill in payment.bills:
                holder = self._live_holder_of_bill(bill.bill_id)
                if holder is not None and holder != payment.id:
                    return CreateResult(
                        outcome=CreateOutcome.BILL_TAKEN, payment_id=holder, bill_id=bill.bill_id
                    )
        if constraint == "payment_consumers_one_open_payment":
            holders = self.pending_for_consumers(list(payment.consumer_keys))
            for consumer, holder in zip(payment.consumer_keys, holders, strict=True):
                if holder is not None and holder != payment.id:
                    return CreateResult(
                        outcome=CreateOutcome.CONFLICT, payment_id=holder, conflict=consumer
                    )
        raise exc

    def _live_holder_of_bill(self, bill_id: str) -> str | None:
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT payment_id FROM payment_bills WHERE bill_id = %s AND live", (bill_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def save(
        self,
        payment: Payment,
        *,
        fence: int | None,
        lease: LeaseAfterSave = LeaseAfterSave.KEEP,
        lease_ttl_seconds: float = 0.0,
    ) -> Payment:
        """Write `payment` over the stored copy it was read from; returns it with version + 1.

        `lease` (with a `fence` only): RENEW extends the lease to `lease_ttl_seconds` from the
        commit, RELEASE gives it back, in the same statement and transaction as the payment.

        Refused (nothing written) with:
          StaleFence              `fence` given and the lease expired or holds another token;
          ConcurrentModification  the stored version is not `payment.version`;
          IntegrityRefused        create_sent would be cleared, a targeted billId dropped, the
                                  consumers changed; ConsumerHeld: back to PENDING while
                                  another open payment holds a consumer; BillHeld: a bill taken
                                  by another live payment;
          PaymentNotFound.
        On a final status the payment's consumer claims are released; RESOLVED also releases its
        bills. Back to PENDING from another status, the claims are taken again (see the module
        docstring). Use `fence=None` only outside registration attempts (operators).
        """
        if fence is None and lease is not LeaseAfterSave.KEEP:
            raise ValueError("only the holder of a lease (a fence) can renew or release it")
        stored = replace(payment, version=payment.version + 1)
        open_ = payment.status.value in _OPEN
        keep = payment.status is _KEEPS_CLAIMS
        live = None if keep else payment.status not in _NOT_LIVE
        lease_until = _lease_until(lease, lease_ttl_seconds)
        try:
            # pipelined: BEGIN goes with the read below, every write with the COMMIT
            with self._db.transaction(pipelined=True) as conn:
                row = conn.execute(
                    """
                    SELECT version, fence, lease_until > clock_timestamp() AS leased,
                           create_sent, history_length, status,
                           (SELECT array_agg(bill_id) FROM payment_targets
                             WHERE payment_id = payments.id) AS targets,
                           (SELECT array_agg(consumer_code || '|' || business_service
                                             ORDER BY position)
                              FROM payment_bills WHERE payment_id = payments.id) AS consumers
                    FROM payments WHERE id = %s FOR UPDATE
                    """,
                    (payment.id,),
                ).fetchone()
                if row is None:
                    raise PaymentNotFound(payment.id)
                version, held, leased, create_sent, history_length, was, targets, consumers = row
                if fence is not None and not (leased and held == fence):
                    raise StaleFence(
                        f"payment {payment.id}: fence {fence} is not current"
                        f" ({'held by ' + str(held) if leased else 'no lease'})"
                    )
                if version != payment.version:
                    raise ConcurrentModification(
                        f"payment {payment.id}: stored version {version},"
                        f" saving over {payment.version}"
                    )
                self._check_integrity(payment, create_sent, targets or [], consumers or [])
                if len(payment.history) < history_length:
                    raise IntegrityRefused(f"payment {payment.id}: history would shrink")
                reopen = payment.status is PaymentStatus.PENDING and was != PaymentStatus.PENDING
                if reopen and self._marks is not None:
                    # marked before the claims can commit, as `create` does (kept if refused)
                    self._marks.mark(payment.id, payment.consumer_keys)
                self._update(
                    conn,
                    stored,
                    open_=True if reopen else None if keep or open_ else False,
                    live=live,
                    history_from=history_length,
                    lease_until=lease_until,
                )
        except errors.UniqueViolation as exc:
            raise self._held(payment, exc) from exc
        if not open_ and self._marks is not None:
            self._marks.unmark(payment.id, payment.consumer_keys)
        return stored

    def _held(self, payment: Payment, exc: errors.UniqueViolation) -> IntegrityRefused:
        """The refusal of a save a partial unique index stopped, naming who holds the claim
        (read after the rollback)."""
        constraint = exc.diag.constraint_name or ""
        if constraint == "payment_consumers_one_open_payment":
            holders = self.pending_for_consumers(list(payment.consumer_keys))
            holder = next((h for h in holders if h is not None and h != payment.id), None)
            return ConsumerHeld(
                f"payment {payment.id}: another payment of its consumer is open ({holder})",
                holder=holder,
            )
        if constraint == "payment_bills_one_live_payment_per_bill":
            for bill in payment.bills:
                holder = self._live_holder_of_bill(bill.bill_id)
                if holder is not None and holder != payment.id:
                    return BillHeld(
                        f"payment {payment.id}: bill {bill.bill_id} is paid by {holder}",
                        bill_id=bill.bill_id,
                        holder=holder,
                    )
            return BillHeld(f"payment {payment.id}: {constraint}", bill_id=None, holder=None)
        return IntegrityRefused(f"payment {payment.id}: {constraint}")

    @staticmethod
    def _check_integrity(
        payment: Payment, create_sent: bool, targets: Sequence[str], consumers: Sequence[str]
    ) -> None:
        if create_sent and not payment.create_sent:
            raise IntegrityRefused(f"payment {payment.id}: CREATE_SENT_CLEARED")
        if not set(targets) <= payment.targeted_bill_ids:
            raise IntegrityRefused(f"payment {payment.id}: TARGETS_SHRANK")
        wanted = [f"{b.consumer_code}|{b.business_service}" for b in payment.bills]
        if list(consumers) != wanted:
            raise IntegrityRefused(f"payment {payment.id}: CONSUMERS_CHANGED")

    def _update(
        self,
        conn: psycopg.Connection[Any],
        p: Payment,
        *,
        open_: bool | None,
        live: bool | None,
        history_from: int,
        lease_until: tuple[str, tuple[Any, ...]],
    ) -> None:
        """Write `p` over its row; `open_` and `live` set its claims (None: as they are)."""
        lease_sql, lease_params = lease_until
        if open_:
            # before the bills: a consumer held by another payment says more than a bill taken
            conn.execute(
                "UPDATE payment_consumers SET open = true WHERE payment_id = %s AND NOT open",
                (p.id,),
            )
        conn.execute(
            # lease_sql is one of _lease_until's constant fragments; values travel as parameters
            """
            UPDATE payments SET status = %s, registered_at = %s, attempts = %s, last_error = %s,
              create_sent = %s, digit_payment_id = %s, needs_attention_reason = %s,
              resolution = %s, provisional = %s, version = %s, history_length = %s,
              lease_until = """  # noqa: S608
            + lease_sql
            + """
            WHERE id = %s
            """,
            (
                p.status.value,
                p.registered_at,
                p.attempts,
                p.last_error,
                p.create_sent,
                p.digit_payment_id,
                p.needs_attention_reason,
                p.resolution,
                p.provisional,
                p.version,
                len(p.history),
                *lease_params,
                p.id,
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """
                UPDATE payment_bills SET bill_id = %s, bill_number = %s, amount = %s,
                  total_due = %s, receipt_number = %s, receipt_date = %s, retargeted_from = %s,
                  balance_left = %s, live = coalesce(%s::boolean, live)
                WHERE payment_id = %s AND position = %s
                """,
                [
                    (
                        b.bill_id,
                        b.bill_number,
                        b.amount,
                        b.total_due,
                        b.receipt_number,
                        b.receipt_date,
                        b.retargeted_from,
                        b.balance_left,
                        live,
                        p.id,
                        i,
                    )
                    for i, b in enumerate(p.bills)
                ],
            )
            if p.targeted_bill_ids:
                cur.executemany(
                    "INSERT INTO payment_targets (payment_id, bill_id) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(p.id, b) for b in sorted(p.targeted_bill_ids)],
                )
            if 0 < history_from <= len(p.history):
                kept = p.history[history_from - 1]
                cur.execute(
                    _COUNT_REPEAT, (kept.count, kept.last_at, p.id, history_from - 1, kept.count)
                )
            rows = _history_rows(p, history_from)
            if rows:
                cur.executemany(_INSERT_HISTORY, rows)
        if open_ is False:
            conn.execute(
                "UPDATE payment_consumers SET open = false WHERE payment_id = %s AND open",
                (p.id,),
            )

    # --- reads ---

    def _select(self, where: str, params: Sequence[Any]) -> list[Payment]:
        with self._db.autocommit() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_SELECT + where, params)
            return [_payment(row) for row in cur.fetchall()]

    def _ids(self, sql: str, params: Sequence[Any]) -> list[str]:
        with self._db.autocommit() as conn:
            return [str(r[0]) for r in conn.execute(sql, params).fetchall()]

    def get(self, payment_id: str) -> Payment | None:
        found = self._select("WHERE p.id = %s", (payment_id,))
        return found[0] if found else None

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]:
        """The payments that exist among `payment_ids`, in the given order."""
        if not payment_ids:
            return []
        by_id = {p.id: p for p in self._select("WHERE p.id = ANY(%s)", (list(payment_ids),))}
        return [by_id[i] for i in payment_ids if i in by_id]

    def get_by_idempotency(self, device_id: str, key: str) -> Payment | None:
        found = self._select("WHERE p.device_id = %s AND p.idempotency_key = %s", (device_id, key))
        return found[0] if found else None

    def pending_for_consumer(
        self, tenant_id: str, business_service: str, consumer_code: str
    ) -> str | None:
        """The id of the consumer's open (PENDING or NEEDS_ATTENTION) payment, if any."""
        return self.pending_for_consumers([(tenant_id, business_service, consumer_code)])[0]

    def pending_for_consumers(self, consumers: Sequence[tuple[str, str, str]]) -> list[str | None]:
        """`pending_for_consumer` for many (tenant, service, consumer) at once: one query."""
        if not consumers:
            return []
        with self._db.autocommit() as conn:
            rows = conn.execute(
                """
                SELECT c.tenant_id, c.business_service, c.consumer_code, c.payment_id
                FROM payment_consumers c
                JOIN unnest(%s::text[], %s::text[], %s::text[]) AS w(t, s, k)
                  ON c.tenant_id = w.t AND c.business_service = w.s AND c.consumer_code = w.k
                WHERE c.open
                """,
                (
                    [c[0] for c in consumers],
                    [c[1] for c in consumers],
                    [c[2] for c in consumers],
                ),
            ).fetchall()
        holders = {(r[0], r[1], r[2]): str(r[3]) for r in rows}
        return [holders.get(tuple(c)) for c in consumers]  # type: ignore[arg-type]

    def open_claims(self) -> list[tuple[str, str, str, str]]:
        """Every open consumer claim: (tenant, service, consumer, payment id), to rebuild the
        marks of integrator.store.open_claims."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT tenant_id, business_service, consumer_code, payment_id"
                " FROM payment_consumers WHERE open"
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def live_payment_for_bills(self, bill_ids: Sequence[str]) -> dict[str, str]:
        """For each bill id paid by a live payment (open or REGISTERED), that payment's id."""
        if not bill_ids:
            return {}
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT bill_id, payment_id FROM payment_bills WHERE live AND bill_id = ANY(%s)",
                (list(bill_ids),),
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def ids_by_status(
        self, status: PaymentStatus, *, offset: int = 0, limit: int = 100
    ) -> list[str]:
        """Ids of payments now in `status`, newest first."""
        return self._ids(
            "SELECT id FROM payments WHERE status = %s ORDER BY created_at DESC, id DESC"
            " OFFSET %s LIMIT %s",
            (status.value, offset, limit),
        )

    def ids_by_status_between(
        self, status: PaymentStatus, start: datetime, end: datetime, *, offset: int, limit: int
    ) -> list[str]:
        """Ids now in `status` created in [start, end), newest first."""
        return self._ids(
            "SELECT id FROM payments WHERE status = %s AND created_at >= %s AND created_at < %s"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT %s",
            (status.value, start, end, offset, limit),
        )

    def oldest_created(self, status: PaymentStatus) -> datetime | None:
        """When the oldest payment now in `status` was created (None: there is none)."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT min(created_at) FROM payments WHERE status = %s", (status.value,)
            ).fetchone()
        return None if row is None else row[0]

    def count_by_status(self) -> dict[PaymentStatus, int]:
        with self._db.autocommit() as conn:
            rows = conn.execute("SELECT status, count(*) FROM payments GROUP BY status").fetchall()
        counts = {s: 0 for s in PaymentStatus}
        for status, count in rows:
            counts[PaymentStatus(status)] = int(count)
        return counts

    def list_recent(self, cursor: str | None = None, limit: int = 50) -> PaymentPage:
        """Payments newest first, `limit` per page; `cursor` is the previous page's `next_cursor`.

        The cursor is `<created_at µs>:<id>` of the last payment shown (keyset paging), so
        payments created meanwhile do not shift the pages.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        if cursor is None:
            where, params = "", []
        else:
            micros, _, last_id = cursor.partition(":")
            try:
                after: datetime = _EPOCH + timedelta(microseconds=int(micros))
            except (ValueError, OverflowError):
                raise ValueError(f"not a cursor of this list: {cursor!r}") from None
            where = "WHERE (p.created_at, p.id) < (%s, %s)"
            params = [after, last_id]
        found = self._select(
            where + " ORDER BY p.created_at DESC, p.id DESC LIMIT %s", (*params, limit + 1)
        )
        page, more = found[:limit], len(found) > limit
        next_cursor = None
        if page and more:
            last = page[-1]
            next_cursor = f"{_micros(last.created_at)}:{last.id}"
        return PaymentPage(payments=tuple(page), next_cursor=next_cursor)

    def ids_created_between(
        self, start: datetime, end: datetime, *, offset: int = 0, limit: int = 100
    ) -> list[str]:
        """Ids created in [start, end), newest first."""
        return self._ids(
            "SELECT id FROM payments WHERE created_at >= %s AND created_at < %s"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT %s",
            (start, end, offset, limit),
        )

    def open_ids(self, *, limit: int = 1000) -> list[str]:
        """Ids of PENDING payments, oldest first (the sweeper re-enqueues them from here)."""
        return self._ids(
            "SELECT id FROM payments WHERE status = 'PENDING' ORDER BY created_at, id LIMIT %s",
            (limit,),
        )

    def _newest_first(self, where: str, params: Sequence[Any]) -> list[str]:
        # `where` is one of this module's constant fragments; values travel as parameters
        sql = "SELECT id FROM payments p WHERE " + where + " ORDER BY created_at DESC, id DESC"  # noqa: S608
        return self._ids(sql, params)

    def reversals_between(self, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        """(payment id, time) of every history entry in [start, end) that took its payment's
        money back (CANCELLED, DISHONOURED, or resolved REFUNDED: `store.cash.REVERSAL`, as the
        day close and the ops overview count them), newest first, equal times in descending id
        order (the settlement report's reversal rows)."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT h.payment_id, h.at FROM payment_history h"  # noqa: S608 (constant)
                f" WHERE {REVERSAL} AND h.at >= %(start)s AND h.at < %(end)s"
                " ORDER BY h.at DESC, h.payment_id DESC",
                {"start": start, "end": end, **REVERSAL_PARAMS},
            ).fetchall()
        return [(str(r[0]), r[1]) for r in rows]

    def ids_for_bill(self, bill_id: str) -> list[str]:
        """Payments that paid, were moved onto, or ever sent a create for `bill_id` (each arm
        answered from its own index)."""
        return self._newest_first(
            "p.id IN (SELECT payment_id FROM payment_bills WHERE bill_id = %s"
            " UNION SELECT payment_id FROM payment_bills WHERE retargeted_from = %s"
            " UNION SELECT payment_id FROM payment_targets WHERE bill_id = %s)",
            (bill_id, bill_id, bill_id),
        )

    def ids_for_consumer(self, consumer_code: str) -> list[str]:
        return self._newest_first(
            "EXISTS (SELECT 1 FROM payment_bills b WHERE b.payment_id = p.id"
            " AND b.consumer_code = %s)",
            (consumer_code,),
        )

    def ids_for_receipt(self, receipt_number: str) -> list[str]:
        return self._newest_first(
            "EXISTS (SELECT 1 FROM payment_bills b WHERE b.payment_id = p.id"
            " AND b.receipt_number = %s)",
            (receipt_number,),
        )

    def ids_for_mobile_last4(self, last4: str) -> list[str]:
        return self._newest_first("p.mobile_last4 = %s", (last4,))

    def ids_for_idempotency_key(self, key: str) -> list[str]:
        return self._newest_first("p.idempotency_key = %s", (key,))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _in_one_round_trip(
    conn: psycopg.Connection[Any], statements: Sequence[tuple[str, Sequence[Any]]]
) -> None:
    """Run `statements` as one transaction in one round trip, on the autocommit connection `conn`.

    They are bound client-side (psycopg's ClientCursor quotes each value by the server's rules)
    and sent as one multi-statement Query, which PostgreSQL runs as one implicit transaction:
    committed after the last statement, or rolled back whole when one is refused (the error is
    raised here and the connection is idle again). One send and one wait: psycopg's pipeline mode
    also waits once, but flushes a write (a send system call) and polls for every statement.
    """
    binder = psycopg.ClientCursor(conn)
    conn.execute(";\n".join(binder.mogrify(query, params) for query, params in statements))
