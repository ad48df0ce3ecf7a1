"""Finding payments for an operator: `PaymentQuery` (the console's search form and `integrator
payments list`), answered a newest-first page at a time by `PaymentFinder` from the ledger's
indexes. Cursors are opaque strings; a bad one is refused with BAD_QUERY.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol

from integrator.payments.days import day_bounds
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import PaymentLedger
from integrator.payments.refusals import OperationRefused


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

    def __init__(self, *, payments: PaymentLedger, index: StatusRangeIndex, tz: tzinfo) -> None:
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


def _whole_number(text: str) -> bool:
    """ASCII digits that fit a bigint ("²".isdigit() is true, and int() refuses it)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    kind, _, value = cursor.partition(":")
    if kind != "o" or not _whole_number(value):
        raise OperationRefused("BAD_QUERY", f"not a cursor of this list: {cursor!r}")
    return int(value)


def _store_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    kind, _, value = cursor.partition(":")
    score, _, last_id = value.partition(":")
    if kind != "k" or not _whole_number(score) or not last_id:
        raise OperationRefused("BAD_QUERY", f"not a cursor of this list: {cursor!r}")
    return value
