"""The operator's use cases: what a person may do to payments, from the ops console or the CLI.

    OperationRefused            the action is not possible now; `code` says why:
        NOT_FOUND               no such payment
        NOT_RETRYABLE           only PENDING and NEEDS_ATTENTION payments are retried
        NOT_RESOLVABLE          only NEEDS_ATTENTION payments are resolved (states.ALLOWED)
        NOTE_REQUIRED           a resolution needs a note saying what the operator did
        RECEIPT_REQUIRED        RECEIPTED_BY_HAND needs DIGIT's receipt number
        RECEIPT_NOT_FOUND       DIGIT has no live payment with that receipt for this payment's bills
        DIGIT_HOLDS_PAYMENT     REFUNDED refused: DIGIT holds a payment for one of the bills
        DIGIT_UNREACHABLE       DIGIT gave no usable answer: nothing can be verified, nothing done
        DIGIT_REJECTED          DIGIT refused the search itself
        BUSY                    a registration attempt holds the payment now: try again shortly
        CHANGED                 the payment changed while the operator looked: reload, decide again
        BAD_QUERY               a search's cursor or criteria cannot be read

Every action is recorded in the payment's history with actor `operator:<name>`. Status changes go
through `states.transition` (the one place they are decided); saves are version-checked, so an
operator never overwrites what a worker wrote meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

from integrator.digit.client import DigitClient
from integrator.digit.errors import DigitError, DigitRejected
from integrator.digit.models import DigitPayment
from integrator.payments import states
from integrator.payments.models import Payment, PaymentError, PaymentStatus
from integrator.payments.registration import PAYMENT_ID_KEY, Registrar
from integrator.payments.service import RegistrationScheduler
from integrator.store.leases import LeaseStore
from integrator.store.payments import (
    ConcurrentModification,
    IntegrityRefused,
    PaymentNotFound,
    PaymentStore,
    StaleFence,
)

log = logging.getLogger("integrator.operations")

#: How many NEEDS_ATTENTION payments one "retry all matching" may retry at most.
RETRY_MATCHING_LIMIT = 1000


class OperationRefused(PaymentError):
    """An operator action that cannot be done now; `code` is stable (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Resolution(StrEnum):
    """How an operator closed a NEEDS_ATTENTION payment (stored as its `resolution`)."""

    RECEIPTED_BY_HAND = "RECEIPTED_BY_HAND"  # a clerk registered it in DIGIT; receipt verified
    REFUNDED = "REFUNDED"  # the money went back to the payer; DIGIT holds no payment


def actor_of(operator: str) -> str:
    return f"operator:{operator}"


# --- finding payments ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PaymentQuery:
    """What the console's search form and `integrator payments list` filter by. All optional."""

    payment_id: str | None = None
    idempotency_key: str | None = None
    bill_id: str | None = None
    consumer_code: str | None = None
    receipt_number: str | None = None
    mobile_digits: str | None = None  # the last 4 (or more) digits of the payer's mobile
    created_from: date | None = None  # first day, in DIGIT's time zone
    created_to: date | None = None  # last day (inclusive), in DIGIT's time zone
    status: PaymentStatus | None = None

    @property
    def mobile_last4(self) -> str | None:
        digits = "".join(ch for ch in (self.mobile_digits or "") if ch.isdigit())
        return digits[-4:] if digits else None

    @property
    def has_dates(self) -> bool:
        return self.created_from is not None or self.created_to is not None

    def matches(self, payment: Payment, *, tz: tzinfo) -> bool:
        """Whether `payment` meets every given criterion (used after an index look-up)."""
        if self.payment_id and payment.id != self.payment_id:
            return False
        if self.status is not None and payment.status is not self.status:
            return False
        if self.idempotency_key and payment.idempotency_key != self.idempotency_key:
            return False
        targeted = payment.targeted_bill_ids | {
            i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i
        }
        if self.bill_id and self.bill_id not in targeted:
            return False
        if self.consumer_code and all(b.consumer_code != self.consumer_code for b in payment.bills):
            return False
        if self.receipt_number and self.receipt_number not in payment.receipt_numbers:
            return False
        last4 = self.mobile_last4
        if last4 and payment.mobile_last4 != last4:
            return False
        start, end = day_bounds(self.created_from, self.created_to, tz)
        return start <= payment.created_at < end


def day_bounds(first: date | None, last: date | None, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in `tz`; open ends are far away."""
    start = datetime.combine(first, time(0), tz) if first else datetime(1970, 1, 2, tzinfo=tz)
    end = (
        datetime.combine(last + timedelta(days=1), time(0), tz)
        if last
        else datetime(9999, 1, 1, tzinfo=tz)
    )
    return start, end


@dataclass(frozen=True, kw_only=True)
class PaymentPage:
    payments: tuple[Payment, ...]
    next_cursor: str | None = None


class StatusRangeIndex(Protocol):
    """Status-and-date look-ups of the ledger (store.payments.PaymentStore)."""

    def ids_by_status_between(
        self, status: PaymentStatus, start: datetime, end: datetime, *, offset: int, limit: int
    ) -> list[str]: ...

    def oldest_created(self, status: PaymentStatus) -> datetime | None: ...


class PaymentFinder:
    """Newest-first pages of payments for a `PaymentQuery`, each answered from an index.

    Cursors are opaque strings: `k:<store cursor>` for the unfiltered list (stable while new
    payments arrive) and `o:<offset>` for filtered lists.
    """

    #: Payments loaded per round while filtering the candidates of an index look-up.
    CHUNK = 200

    def __init__(self, *, payments: PaymentStore, index: StatusRangeIndex, tz: tzinfo) -> None:
        self._payments = payments
        self._index = index
        self._tz = tz

    def find(
        self, query: PaymentQuery, *, cursor: str | None = None, limit: int = 50
    ) -> PaymentPage:
        if limit <= 0:
            raise OperationRefused("BAD_QUERY", "limit must be positive")
        if query.payment_id:
            found = self._payments.get(query.payment_id)
            hits = (found,) if found is not None and query.matches(found, tz=self._tz) else ()
            return PaymentPage(payments=hits)
        candidates = self._candidates(query)
        if candidates is not None:
            return self._filtered(query, candidates, _offset(cursor), limit)
        if query.status is None and not query.has_dates:
            store_cursor = _store_cursor(cursor)
            page = self._payments.list_recent(store_cursor, limit)
            return PaymentPage(
                payments=page.payments,
                next_cursor=f"k:{page.next_cursor}" if page.next_cursor else None,
            )
        offset = _offset(cursor)
        start, end = day_bounds(query.created_from, query.created_to, self._tz)
        if query.status is not None and query.has_dates:
            ids = self._index.ids_by_status_between(
                query.status, start, end, offset=offset, limit=limit + 1
            )
        elif query.status is not None:
            ids = self._payments.ids_by_status(query.status, offset=offset, limit=limit + 1)
        else:
            ids = self._payments.ids_created_between(start, end, offset=offset, limit=limit + 1)
        more = len(ids) > limit
        return PaymentPage(
            payments=tuple(self._payments.get_many(ids[:limit])),
            next_cursor=f"o:{offset + limit}" if more else None,
        )

    def iter_ids(self, query: PaymentQuery, *, limit: int) -> Iterator[str]:
        """Ids of up to `limit` matching payments, page by page."""
        cursor: str | None = None
        seen = 0
        while seen < limit:
            page = self.find(query, cursor=cursor, limit=min(100, limit - seen))
            for payment in page.payments:
                seen += 1
                yield payment.id
            if page.next_cursor is None or not page.payments:
                return
            cursor = page.next_cursor

    def _candidates(self, query: PaymentQuery) -> list[str] | None:
        """Newest-first ids from the most selective index criteria, or None if none is given."""
        lists: list[list[str]] = []
        if query.idempotency_key:
            lists.append(self._payments.ids_for_idempotency_key(query.idempotency_key))
        if query.receipt_number:
            lists.append(self._payments.ids_for_receipt(query.receipt_number))
        if query.bill_id:
            lists.append(self._payments.ids_for_bill(query.bill_id))
        if query.consumer_code:
            lists.append(self._payments.ids_for_consumer(query.consumer_code))
        last4 = query.mobile_last4
        if last4:
            lists.append(self._payments.ids_for_mobile_last4(last4))
        if not lists:
            return None
        lists.sort(key=len)
        others = [set(other) for other in lists[1:]]
        return [pid for pid in lists[0] if all(pid in other for other in others)]

    def _filtered(
        self, query: PaymentQuery, candidates: Sequence[str], offset: int, limit: int
    ) -> PaymentPage:
        hits: list[Payment] = []
        position = offset
        while position < len(candidates):
            chunk = candidates[position : position + self.CHUNK]
            loaded = {p.id: p for p in self._payments.get_many(chunk)}
            for i, payment_id in enumerate(chunk):
                payment = loaded.get(payment_id)
                if payment is None or not query.matches(payment, tz=self._tz):
                    continue
                if len(hits) == limit:
                    return PaymentPage(payments=tuple(hits), next_cursor=f"o:{position + i}")
                hits.append(payment)
            position += len(chunk)
        return PaymentPage(payments=tuple(hits))


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    kind, _, value = cursor.partition(":")
    if kind != "o" or not value.isdigit():
        raise OperationRefused("BAD_QUERY", f"not a cursor of this list: {cursor!r}")
    return int(value)


def _store_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    kind, _, value = cursor.partition(":")
    score, _, last_id = value.partition(":")
    if kind != "k" or not score.isdigit() or not last_id:
        raise OperationRefused("BAD_QUERY", f"not a cursor of this list: {cursor!r}")
    return value


# --- acting on payments ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RetrySummary:
    retried: tuple[str, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)  # payment id -> refusal code


class PaymentOperations:
    """Retry and resolve payments on an operator's behalf. Collaborators that talk to DIGIT or
    RQ are passed as factories, so reading payments never builds them."""

    def __init__(
        self,
        *,
        payments: PaymentStore,
        finder: PaymentFinder,
        leases: LeaseStore,
        lease_ttl_seconds: float,
        digit: Callable[[], DigitClient],
        registrar: Callable[[], Registrar],
        scheduler: Callable[[], RegistrationScheduler],
        clock: Callable[[], datetime],
    ) -> None:
        self._payments = payments
        self.finder = finder
        self._leases = leases
        self._lease_ttl = lease_ttl_seconds
        self._digit = digit
        self._registrar = registrar
        self._scheduler = scheduler
        self._clock = clock

    # --- reading ---

    def get(self, payment_id: str) -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise OperationRefused("NOT_FOUND", f"no payment {payment_id}")
        return payment

    def counts(self) -> dict[PaymentStatus, int]:
        return self._payments.count_by_status()

    # --- retry ---

    def retry(self, payment_id: str, *, operator: str) -> Payment:
        """Register now: PENDING is scheduled at once, NEEDS_ATTENTION goes back to PENDING."""
        payment = self.get(payment_id)
        actor, now = actor_of(operator), self._clock()
        if payment.status is PaymentStatus.PENDING:
            updated = states.record(
                payment, "operator_retry", actor=actor, at=now, reason="retry now"
            )
        elif payment.status is PaymentStatus.NEEDS_ATTENTION:
            updated = states.transition(
                payment,
                PaymentStatus.PENDING,
                actor=actor,
                reason="OPERATOR_RETRY",
                at=now,
                detail={"previousReason": payment.needs_attention_reason},
            )
        else:
            raise OperationRefused(
                "NOT_RETRYABLE", f"payment {payment_id} is {payment.status}: it is final"
            )
        saved = self._save(updated, fence=None)
        self._scheduler().schedule(payment_id, delay_seconds=0)
        log.info(
            "operator retry",
            extra={
                "payment_id": payment_id,
                "operator": operator,
                "from_status": payment.status.value,
            },
        )
        return saved

    def retry_matching(
        self, query: PaymentQuery, *, operator: str, limit: int = RETRY_MATCHING_LIMIT
    ) -> RetrySummary:
        """Retry every NEEDS_ATTENTION payment matching `query` (its status is ignored)."""
        query = replace(query, status=PaymentStatus.NEEDS_ATTENTION)
        ids = list(self.finder.iter_ids(query, limit=limit))
        retried: list[str] = []
        refused: dict[str, str] = {}
        for payment_id in ids:
            try:
                self.retry(payment_id, operator=operator)
            except OperationRefused as exc:
                refused[payment_id] = exc.code
            else:
                retried.append(payment_id)
        return RetrySummary(retried=tuple(retried), refused=refused)

    # --- resolve ---

    def resolve(
        self,
        payment_id: str,
        *,
        operator: str,
        resolution: Resolution,
        note: str,
        receipt_number: str | None = None,
    ) -> Payment:
        """Close a NEEDS_ATTENTION payment as RESOLVED, after checking DIGIT agrees:

        RECEIPTED_BY_HAND: DIGIT must hold a live payment with `receipt_number` for one of the
        payment's bills (searched under each bill's module); the receipt is stored on the bill.
        REFUNDED: DIGIT must hold no live payment for any billId the payment ever targeted.
        Refused while DIGIT cannot be asked, and while a registration attempt holds the payment.
        """
        note = note.strip()
        if not note:
            raise OperationRefused("NOTE_REQUIRED", "say what was done in a note")
        receipt_number = (receipt_number or "").strip() or None
        if resolution is Resolution.RECEIPTED_BY_HAND and receipt_number is None:
            raise OperationRefused("RECEIPT_REQUIRED", "give DIGIT's receipt number")
        payment = self.get(payment_id)
        self._require_resolvable(payment)
        fence = self._leases.acquire(payment_id, ttl_seconds=self._lease_ttl)
        if fence is None:
            raise OperationRefused(
                "BUSY", "a registration attempt holds this payment; retry in a minute"
            )
        try:
            payment = self.get(payment_id)  # re-read under the lease
            self._require_resolvable(payment)
            detail: dict[str, object] = {"note": note}
            if resolution is Resolution.RECEIPTED_BY_HAND:
                assert receipt_number is not None
                payment, found = self._with_verified_receipt(payment, receipt_number)
                detail.update(receiptNumber=receipt_number, digitPaymentId=found.id)
            else:
                self._require_nothing_in_digit(payment)
            resolved = states.transition(
                payment,
                PaymentStatus.RESOLVED,
                actor=actor_of(operator),
                reason=resolution.value,
                at=self._clock(),
                detail=detail,
            )
            saved = self._save(resolved, fence=fence)
        finally:
            self._leases.release(payment_id, fence)
        log.info(
            "operator resolved payment",
            extra={"payment_id": payment_id, "operator": operator, "resolution": resolution.value},
        )
        return saved

    @staticmethod
    def _require_resolvable(payment: Payment) -> None:
        if not states.can_transition(payment.status, PaymentStatus.RESOLVED):
            raise OperationRefused(
                "NOT_RESOLVABLE",
                f"payment {payment.id} is {payment.status}: only NEEDS_ATTENTION can be resolved",
            )

    def _with_verified_receipt(
        self, payment: Payment, receipt_number: str
    ) -> tuple[Payment, DigitPayment]:
        targets = payment.targeted_bill_ids | {
            i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i
        }
        modules = sorted({b.business_service for b in payment.bills})
        with _asking_digit():
            for module in modules:
                for found in self._digit().search_payments(
                    tenant_id=payment.tenant_id, module=module, receipt_numbers=[receipt_number]
                ):
                    if not found.is_live:
                        continue
                    owner = found.additional_details.get(PAYMENT_ID_KEY)
                    if owner and str(owner) != payment.id:
                        raise OperationRefused(
                            "RECEIPT_OF_ANOTHER_PAYMENT",
                            f"receipt {receipt_number} belongs to our payment {owner}",
                        )
                    claimed = [
                        i for i in self._payments.ids_for_receipt(receipt_number) if i != payment.id
                    ]
                    if claimed:
                        raise OperationRefused(
                            "RECEIPT_OF_ANOTHER_PAYMENT",
                            f"receipt {receipt_number} is already recorded on {claimed[0]}",
                        )
                    details = [
                        d
                        for d in found.details
                        if d.receipt_number == receipt_number and d.bill_id in targets
                    ]
                    if details:
                        return _with_receipts(payment, found), found
        raise OperationRefused(
            "RECEIPT_NOT_FOUND",
            f"DIGIT has no live payment with receipt {receipt_number} for this payment's bills",
        )

    def _require_nothing_in_digit(self, payment: Payment) -> None:
        with _asking_digit():
            found = self._registrar().lookup(payment)
        live = [p for p in (found.ours, *found.others) if p is not None and p.is_live]
        if live:
            receipts = sorted(d.receipt_number for p in live for d in p.details)
            raise OperationRefused(
                "DIGIT_HOLDS_PAYMENT",
                f"DIGIT holds a payment for this payment's bills (receipts {receipts}): "
                "it cannot be marked refunded",
            )

    def _save(self, payment: Payment, *, fence: int | None) -> Payment:
        try:
            return self._payments.save(payment, fence=fence)
        except PaymentNotFound:
            raise OperationRefused("NOT_FOUND", f"no payment {payment.id}") from None
        except (ConcurrentModification, StaleFence, IntegrityRefused):
            raise OperationRefused(
                "CHANGED", f"payment {payment.id} changed meanwhile: reload and decide again"
            ) from None


@contextmanager
def _asking_digit() -> Iterator[None]:
    """Turn DIGIT's errors into refusals: nothing is changed unless DIGIT answered."""
    try:
        yield
    except DigitRejected as exc:
        raise OperationRefused("DIGIT_REJECTED", f"DIGIT refused the search: {exc}") from exc
    except DigitError as exc:
        raise OperationRefused(
            "DIGIT_UNREACHABLE",
            f"DIGIT could not be asked ({type(exc).__name__}); nothing was changed",
        ) from exc


def _with_receipts(payment: Payment, found: DigitPayment) -> Payment:
    """`payment` with DIGIT's receipts stored on the bills `found` pays (found by receipt)."""
    by_bill = {d.bill_id: d for d in found.details}
    bills = []
    for bill in payment.bills:
        detail = by_bill.get(bill.bill_id) or (
            by_bill.get(bill.retargeted_from) if bill.retargeted_from else None
        )
        if detail is not None and bill.receipt_number is None:
            bill = replace(
                bill, receipt_number=detail.receipt_number, receipt_date=detail.receipt_date
            )
        bills.append(bill)
    return replace(
        payment, bills=tuple(bills), digit_payment_id=payment.digit_payment_id or found.id
    )
