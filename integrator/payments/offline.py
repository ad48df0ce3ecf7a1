"""Payments collected while the device had no signal, uploaded later in a batch.

    OfflineUploads.upload(device, items) -> one ItemResult per item, in the items' order

Each item is its own payment with its own Idempotency-Key, checked against DIGIT as it is now
through the one acceptance path (`PaymentService.accept_payment`, not waiting for registration):

- accepted      the bill is still payable: the payment is stored PENDING and the worker registers
                it. A bill DIGIT superseded meanwhile is paid on its successor only when the money
                path allows it (`registration.may_retarget`: same total, or a part payment the
                successor still needs);
- quarantined   the world moved while the device was offline (the bill was paid elsewhere, it
                expired with a changed total, the amount is now below the minimum, the city is no
                longer collectable, or the bill's service there, another payment of the consumer
                is under way, a cheque or DD went past DIGIT's date window) or the item is
                beyond the device's offline limits (collected too long ago, more cash than the
                device may hold offline until a hand-over): the money was taken, so the payment is
                stored NEEDS_ATTENTION with reason OFFLINE_CONFLICT and what changed, for an
                operator to register against the current bill (retry), refund or cancel;
- refused       the item breaks a rule the device can fix (its form, an instrument already out of
                DIGIT's window when taken, a key reused for another payment), names a bill neither
                we nor DIGIT know in its city (nothing to hold a payment against: the ledger keeps
                one by its bills and consumers; logged for a person to look at the device), or
                cannot be checked now (DIGIT or the ledger unavailable, the same key being
                uploaded by another request: with a Retry-After): nothing is stored, the device
                keeps it and uploads it again.

Every item is committed (or not) on its own, so a failure on one never loses those before it, and
a second upload of the same batch answers every item from what the first one stored. Uploads of
one device that carry CASH run one at a time (`UploadLocks`): the offline cash limit is judged on
what the device holds and the items stored before the next upload reads it, so two uploads at the
same moment (a retry of one that timed out on the device, two apps) cannot both fit under it. One
that cannot start within the lock's wait is answered OfflineUploadInProgress (nothing stored).
Whatever checking one item raises (a use case's refusal, DIGIT's) is that item's answer
(`_unanswered`), never the batch's: the batch is answered item by item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from integrator.digit.errors import DigitError, DigitRejected
from integrator.digit.models import Bill
from integrator.payments import rules
from integrator.payments.cash import CASH, CashBook
from integrator.payments.cash_records import (
    OfflineArrival,
    OfflineMark,
)
from integrator.payments.devices import Device
from integrator.payments.events import NO_PAYMENT_OBSERVER, PaymentObserver
from integrator.payments.models import (
    HistoryEntry,
    Payment,
    PaymentBill,
    PaymentError,
    PaymentRejected,
    PaymentStatus,
    Violation,
)
from integrator.payments.ports import (
    BillSnapshots,
    CreateOutcome,
    CreateResult,
    DigitGateway,
    PaymentLedger,
)
from integrator.payments.registration import may_retarget
from integrator.payments.service import (
    DIGIT_RETRY_AFTER,
    NO_ANSWER,
    PaymentService,
    canonical,
    new_payment,
)
from integrator.payments.use_cases import (
    BillLine,
    DigitUnreachable,
    IdempotencyKeyReused,
    LedgerUnavailable,
    PaymentInProgress,
    PaymentRequest,
    RequestInFlight,
)

log = logging.getLogger("integrator.offline")

OFFLINE_CONFLICT = "OFFLINE_CONFLICT"

#: Refusals that mean the world moved since the device fetched the bill: such a payment is
#: quarantined (its money was taken), never refused.
CONFLICT_CODES = frozenset(
    {
        "BILL_ALREADY_PAID",
        "BILL_SUPERSEDED",
        "BILL_NOT_PAYABLE",
        "BILL_NOT_FOUND",
        "AMOUNT_BELOW_MINIMUM",
        "AMOUNT_ABOVE_MAXIMUM",
        "PARTIAL_PAYMENT_NOT_ALLOWED",
        "ADVANCE_NOT_ALLOWED",
        "PAYMENT_MODE_NOT_ALLOWED",
        "TENANT_NOT_COLLECTABLE",
        "SERVICE_NOT_COLLECTABLE",
    }
)
#: A cheque or DD too old now that was not when the money was taken: it aged while the device was
#: offline (quarantined, see `_aged_offline`); one already too old then is refused.
_AGED = "INSTRUMENT_DATE_TOO_OLD"
#: Every `code` a quarantined item's conflict can carry: a conflict above, a limit of the device
#: (collected too long ago, more cash than one upload may carry), or another payment of the
#: consumer under way. Each is in the error catalogue (integrator.api.problems).
QUARANTINE_CODES = CONFLICT_CODES | {
    "COLLECTED_TOO_LONG_AGO",
    "OFFLINE_CASH_LIMIT_EXCEEDED",
    "PAYMENT_IN_PROGRESS",
    _AGED,
}
#: Conflicts a successor bill may cure (re-targeting under the money path's rule).
_SUPERSEDED = frozenset({"BILL_SUPERSEDED", "BILL_NOT_PAYABLE"})


class OfflineLedger(Protocol):
    """Offline marks and quarantined payments in the ledger (integrator.store.offline)."""

    def mark(
        self,
        payment: Payment,
        *,
        request_fingerprint: str,
        collected_at: datetime,
        detail: Mapping[str, Any],
    ) -> None: ...

    def marks(self, payment_ids: Sequence[str]) -> dict[str, OfflineMark]: ...

    def cash_held(self, device_id: str, *, excluding_keys: Sequence[str] = ()) -> Decimal:
        """The offline CASH the device holds: uploaded since its last CASH hand-over in their
        city, not given back, not itself beyond the limit; without `excluding_keys`' payments."""
        ...

    def quarantine(
        self,
        payment: Payment,
        *,
        request_fingerprint: str,
        collected_at: datetime,
        detail: Mapping[str, Any],
    ) -> CreateResult: ...


class UploadLocks(Protocol):
    """One device's uploads judged one at a time (integrator.store.upload_locks)."""

    def hold(self, device_id: str) -> AbstractContextManager[None]:
        """Held while the block runs: the device's other uploads wait for it. Raises
        OfflineUploadInProgress when another holds it longer than the wait (nothing done)."""
        ...


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class OfflineItem:
    """One uploaded payment: its key and the request as the device made it (collectedAt set)."""

    idempotency_key: str
    request: PaymentRequest


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    idempotency_key: str
    outcome: Outcome
    payment: Payment | None = None
    replayed: bool = False
    code: str | None = None  # refused: the rule; quarantined: what moved
    field: str | None = None
    message: str | None = None
    retry_after: float | None = None
    conflict: Mapping[str, Any] | None = None  # quarantined: what changed


class OfflineUploads:
    def __init__(
        self,
        *,
        payments: PaymentService,
        store: PaymentLedger,
        offline: OfflineLedger,
        snapshots: BillSnapshots,
        digit: Callable[[], DigitGateway],
        cash: CashBook,
        locks: UploadLocks,
        clock: Callable[[], datetime],
        timezone: tzinfo,
        observer: PaymentObserver = NO_PAYMENT_OBSERVER,
    ) -> None:
        self._observer = observer
        self._locks = locks
        self._timezone = timezone  # DIGIT's (DIGIT_TIMEZONE): instrument dates are its days
        self._payments = payments
        self._store = store
        self._offline = offline
        self._snapshots = snapshots
        self._digit = digit
        self._cash = cash
        self._clock = clock

    def upload(self, device: Device, items: Sequence[OfflineItem]) -> list[ItemResult]:
        # the device's CASH held is read, and this upload's CASH items stored (accepted or
        # quarantined: both count), under the device's lock, so the next upload reads them; an
        # upload without CASH neither reads nor changes that sum
        carries_cash = any(_is_cash(item) for item in items)
        with self._locks.hold(device.id) if carries_cash else nullcontext():
            return self._judge(device, items)

    def _judge(self, device: Device, items: Sequence[OfflineItem]) -> list[ItemResult]:
        limits = self._cash.limits(device)
        oldest = self._clock() - timedelta(seconds=limits.offline_max_age_seconds)
        # the most cash a device may hold offline: what it already holds from earlier uploads
        # (until a hand-over) counts, so splitting an upload does not get round the limit; this
        # upload's own items are counted here, also those a first try of it stored
        held = self._offline.cash_held(
            device.id, excluding_keys=[item.idempotency_key for item in items]
        )
        over_cash = _over_cash_limit(items, limits.offline_cash_limit, held=held)
        results = []
        for index, item in enumerate(items):
            try:
                result = self._one(
                    device,
                    item,
                    too_old=_collected(item) < oldest,
                    over_cash=index in over_cash,
                    limits_detail={
                        "offlineMaxAgeSeconds": limits.offline_max_age_seconds,
                        "offlineCashLimit": limits.offline_cash_limit,
                        "offlineCashHeldBefore": held,
                    },
                )
            except ITEM_REFUSALS as error:
                # this item's answer only: the items before it are stored and answered, those
                # after it are still checked
                result = _unanswered(item, error)
            results.append(result)
        log.info(
            "offline upload",
            extra={
                "device_id": device.id,
                "items": len(items),
                **{o.value: sum(r.outcome is o for r in results) for o in Outcome},
            },
        )
        return results

    def _one(
        self,
        device: Device,
        item: OfflineItem,
        *,
        too_old: bool,
        over_cash: bool,
        limits_detail: Mapping[str, Any],
    ) -> ItemResult:
        request = item.request
        fingerprint = rules.fingerprint(canonical(request))
        existing = self._store.get_by_idempotency(device.id, item.idempotency_key)
        if existing is not None:
            return self._replayed(existing, item, fingerprint)
        if not device.may_act_for(request.tenant_id):
            return _refused(
                item,
                "TENANT_FORBIDDEN",
                "tenantId",
                f"this device may not act for {request.tenant_id}",
            )
        if too_old:
            return self._quarantine(
                device,
                item,
                fingerprint,
                code="COLLECTED_TOO_LONG_AGO",
                message="collected longer ago than this device may hold a payment offline",
                detail=dict(limits_detail),
            )
        if over_cash:
            return self._quarantine(
                device,
                item,
                fingerprint,
                code="OFFLINE_CASH_LIMIT_EXCEEDED",  # a literal: the catalogue scan reads it
                message="with this payment the device would hold more cash collected offline"
                " than it may (until a hand-over to a cashier)",
                detail=dict(limits_detail),
            )
        try:
            outcome = self._payments.accept_payment(
                device=device,
                idempotency_key=item.idempotency_key,
                request=request,
                register_inline=False,
                offline=_arrival(item, fingerprint),
            )
        except PaymentRejected as rejected:
            return self._after_rejection(device, item, fingerprint, rejected.violations)
        except PaymentInProgress as busy:
            return self._quarantine(
                device,
                item,
                fingerprint,
                code="PAYMENT_IN_PROGRESS",
                message="another payment of this consumer is under way",
                detail={"otherPaymentId": busy.payment_id},
            )
        return self._accepted(outcome.payment, item, fingerprint, replayed=outcome.replayed)

    # --- answers ---

    def _accepted(
        self,
        payment: Payment,
        item: OfflineItem,
        fingerprint: str,
        *,
        replayed: bool,
    ) -> ItemResult:
        if replayed:
            # a new payment was marked in its own transaction (`_arrival`); one made before that
            # (or through POST /v1/payments with this key) is marked now (a repeat changes nothing)
            self._offline.mark(
                payment,
                request_fingerprint=fingerprint,
                collected_at=_collected(item),
                detail={},
            )
        return ItemResult(
            idempotency_key=item.idempotency_key,
            outcome=Outcome.ACCEPTED,
            payment=payment,
            replayed=replayed,
        )

    def _replayed(self, payment: Payment, item: OfflineItem, fingerprint: str) -> ItemResult:
        mark = self._offline.marks([payment.id]).get(payment.id)
        sent = mark.request_fingerprint if mark is not None else payment.fingerprint
        if sent != fingerprint:
            return _refused(
                item,
                "IDEMPOTENCY_KEY_REUSED",
                "idempotencyKey",
                "this key was used for another payment",
            )
        if mark is not None and mark.quarantined:
            detail = dict(mark.detail)
            return ItemResult(
                idempotency_key=item.idempotency_key,
                outcome=Outcome.QUARANTINED,
                payment=payment,
                replayed=True,
                code=str(detail.get("code") or OFFLINE_CONFLICT),
                message=str(detail.get("message") or ""),
                conflict=detail,
            )
        return self._accepted(payment, item, fingerprint, replayed=True)

    def _after_rejection(
        self,
        device: Device,
        item: OfflineItem,
        fingerprint: str,
        violations: Sequence[Violation],
    ) -> ItemResult:
        codes = {v.code for v in violations}
        conflicts = CONFLICT_CODES | ({_AGED} if self._aged_offline(item) else set())
        if not codes <= conflicts:
            first = next(v for v in violations if v.code not in conflicts)
            return _refused(item, first.code, first.field, first.message)
        served = self._served_bills(item.request)
        if codes <= _SUPERSEDED:
            moved = self._successor_request(item.request, served)
            if moved is not None:
                request, moves = moved
                try:
                    # bound to what the device sent, and marked, in the payment's transaction: a
                    # re-upload of it replays this payment whenever it comes
                    outcome = self._payments.accept_payment(
                        device=device,
                        idempotency_key=item.idempotency_key,
                        request=request,
                        register_inline=False,
                        offline=_arrival(item, fingerprint, retargeted=moves),
                    )
                except (PaymentRejected, PaymentInProgress):
                    pass  # the successor cannot take it either: quarantine below
                else:
                    return self._accepted(
                        outcome.payment, item, fingerprint, replayed=outcome.replayed
                    )
        first = violations[0]
        return self._quarantine(
            device,
            item,
            fingerprint,
            code=first.code,
            message=first.message,
            detail={
                "violations": [
                    {"code": v.code, "field": v.field, "message": v.message} for v in violations
                ],
                "bills": self._what_changed(item.request, served),
            },
            served=served,
        )

    def _quarantine(
        self,
        device: Device,
        item: OfflineItem,
        fingerprint: str,
        *,
        code: str,
        message: str,
        detail: Mapping[str, Any],
        served: Mapping[str, Bill] | None = None,
    ) -> ItemResult:
        request = item.request
        bills = served if served is not None else self._served_bills(request)
        missing = [i for i, line in enumerate(request.bills) if line.bill_id not in bills]
        if missing:
            # neither we nor DIGIT know the bill in the payment's city: nothing to hold the
            # payment against (and never another city's bill); the device keeps it and a person
            # looks at the device
            i = missing[0]
            log.warning(
                "offline payment against an unknown bill refused",
                extra={
                    "device_id": device.id,
                    "idempotency_key": item.idempotency_key,
                    "bill_id": request.bills[i].bill_id,
                    "tenant_id": request.tenant_id,
                },
            )
            return _refused(
                item,
                "BILL_NOT_FOUND",
                f"bills[{i}].billId",
                f"no bill {request.bills[i].bill_id} in {request.tenant_id} is known",
            )
        conflict = {"code": code, "message": message, **detail}
        now = self._clock()
        accepted = new_payment(
            device=device,
            key=item.idempotency_key,
            fingerprint=fingerprint,
            request=request,
            bills=[bills[line.bill_id] for line in request.bills],
            now=now,
            reason="offline upload",
        )
        payment = replace(
            accepted,
            status=PaymentStatus.NEEDS_ATTENTION,
            needs_attention_reason=OFFLINE_CONFLICT,
            last_error=f"{code}: {message}",
            history=(
                *accepted.history,
                HistoryEntry(
                    at=now,
                    actor="offline-upload",
                    event="transition",
                    from_status=PaymentStatus.PENDING,
                    to_status=PaymentStatus.NEEDS_ATTENTION,
                    reason=OFFLINE_CONFLICT,
                    codes=(code,),
                    detail=conflict,
                ),
            ),
        )
        created = self._offline.quarantine(
            payment,
            request_fingerprint=fingerprint,
            collected_at=_collected(item),
            detail=conflict,
        )
        if created.outcome is not CreateOutcome.CREATED:
            stored = self._store.get(created.payment_id or "")
            if stored is None:
                raise LedgerUnavailable("the payment under this key cannot be read")
            return self._replayed(stored, item, fingerprint)
        # counted as taken (the money was) and as needing a person: metrics, alerts, webhooks
        self._observer.payment_accepted(payment)
        self._observer.payment_needs_attention(payment)
        log.warning(
            "offline payment quarantined",
            extra={"payment_id": payment.id, "device_id": device.id, "code": code},
        )
        return ItemResult(
            idempotency_key=item.idempotency_key,
            outcome=Outcome.QUARANTINED,
            payment=payment,
            code=code,
            message=message,
            conflict=conflict,
        )

    def _aged_offline(self, item: OfflineItem) -> bool:
        """Was the item's instrument within DIGIT's window on the day the money was taken?
        (Then a refusal now, INSTRUMENT_DATE_TOO_OLD, is the world moving, not the device's
        mistake: the collector holds a cheque that went stale while offline.)"""
        request = item.request
        then = rules.local_today(_collected(item), self._timezone)
        return not any(
            v.code == _AGED
            for v in rules.check_instrument(
                request.payment_mode,
                request.instrument_number,
                request.instrument_date,
                request.transaction_number,
                today=then,
            )
        )

    # --- the bills then and now ---

    def _served_bills(self, request: PaymentRequest) -> dict[str, Bill]:
        """Each bill as we served it (snapshot), else as DIGIT has it now; only bills of the
        request's city (the device was checked to act for it), so a payment is never held
        against another city's bill: such a bill is not found."""
        now = self._clock()
        found: dict[str, Bill] = {}
        for line in request.bills:
            # any age: what the device was shown, however long it was offline (the snapshot
            # store's retention bounds it; DIGIT is asked for what it no longer holds)
            snapshot = self._snapshots.get(line.bill_id, max_age=timedelta(days=3650), now=now)
            if snapshot is not None and snapshot.tenant_id == request.tenant_id:
                found[line.bill_id] = snapshot
        missing = [line.bill_id for line in request.bills if line.bill_id not in found]
        if missing:
            try:
                for bill in self._digit().search_bills(
                    tenant_id=request.tenant_id, bill_ids=missing
                ):
                    if bill.tenant_id == request.tenant_id:
                        found[bill.id] = bill
            except NO_ANSWER as exc:
                raise DigitUnreachable(retry_after=30) from exc
        return found

    def _what_changed(
        self, request: PaymentRequest, served: Mapping[str, Bill]
    ) -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = []
        for line in request.bills:
            bill = served.get(line.bill_id)
            entry: dict[str, Any] = {"billId": line.bill_id, "amount": line.amount}
            if bill is not None:
                entry["servedTotal"] = bill.total_amount
                try:
                    current = self._digit().fetch_bills(
                        tenant_id=bill.tenant_id,
                        business_service=bill.business_service,
                        consumer_code=bill.consumer_code,
                    )
                except NO_ANSWER:
                    current = []
                if current:
                    entry["currentBillId"] = current[0].id
                    entry["currentTotal"] = current[0].total_amount
                else:
                    entry["currentTotal"] = Decimal(0)
            changes.append(entry)
        return changes

    def _successor_request(
        self, request: PaymentRequest, served: Mapping[str, Bill]
    ) -> tuple[PaymentRequest, list[dict[str, Any]]] | None:
        """The request moved onto each consumer's current bill, if the money path allows."""
        lines: list[BillLine] = []
        moves: list[dict[str, Any]] = []
        for line in request.bills:
            bill = served.get(line.bill_id)
            if bill is None:
                return None
            try:
                current = self._digit().fetch_bills(
                    tenant_id=bill.tenant_id,
                    business_service=bill.business_service,
                    consumer_code=bill.consumer_code,
                )
            except NO_ANSWER:
                return None
            if not current:
                return None
            successor = current[0]
            if successor.id == bill.id:
                lines.append(line)
                continue
            if not may_retarget(_line(bill, line), successor.total_amount):
                return None
            lines.append(replace(line, bill_id=successor.id))
            moves.append({"from": bill.id, "to": successor.id, "total": successor.total_amount})
        if not moves:
            return None
        return replace(request, bills=tuple(lines)), moves


def _line(bill: Bill, line: BillLine) -> PaymentBill:
    return PaymentBill(
        bill_id=bill.id,
        bill_number=bill.bill_number,
        consumer_code=bill.consumer_code,
        business_service=bill.business_service,
        amount=line.amount,
        total_due=bill.total_amount,
    )


def _arrival(
    item: OfflineItem, fingerprint: str, *, retargeted: list[dict[str, Any]] | None = None
) -> OfflineArrival:
    """The offline mark a payment made from `item` is stored with."""
    detail = {} if retargeted is None else {"retargeted": retargeted}
    return OfflineArrival(
        request_fingerprint=fingerprint, collected_at=_collected(item), detail=detail
    )


def _collected(item: OfflineItem) -> datetime:
    collected = item.request.collected_at
    assert collected is not None  # the edge requires collectedAt on every uploaded payment
    return collected


def _is_cash(item: OfflineItem) -> bool:
    return item.request.payment_mode.upper() == CASH


def _over_cash_limit(
    items: Sequence[OfflineItem], limit: Decimal, *, held: Decimal = Decimal(0)
) -> set[int]:
    """Indexes of the CASH items beyond `limit`, counted in the order the money was taken, on
    top of the offline cash the device already `held`."""
    running = held
    over: set[int] = set()
    cash = [i for i, item in enumerate(items) if _is_cash(item)]
    for i in sorted(cash, key=lambda i: (_collected(items[i]), i)):
        amount = items[i].request.total_amount
        if running + amount > limit:
            over.add(i)
        else:
            running += amount
    return over


#: What checking one item may raise instead of answering: each becomes that item's refusal
#: (`_unanswered`), never the whole batch's answer.
ITEM_REFUSALS: tuple[type[Exception], ...] = (PaymentError, DigitError)


def _unanswered(item: OfflineItem, error: Exception) -> ItemResult:
    """The answer for an item whose checks raised: refused with the reason, and a Retry-After
    when uploading it again can succeed (nothing of this item was stored)."""
    if isinstance(error, DigitUnreachable):
        return _refused(
            item,
            "DIGIT_UNAVAILABLE",
            None,
            "DIGIT cannot be reached to check this payment: upload it again later",
            retry_after=error.retry_after,
        )
    if isinstance(error, NO_ANSWER):
        return _refused(
            item,
            "DIGIT_UNAVAILABLE",
            None,
            "DIGIT gave no usable answer while this payment was checked: upload it again later",
            retry_after=DIGIT_RETRY_AFTER,
        )
    if isinstance(error, LedgerUnavailable):
        return _refused(
            item,
            "LEDGER_UNAVAILABLE",
            None,
            "the ledger cannot be reached: upload this payment again",
            retry_after=error.retry_after,
        )
    if isinstance(error, RequestInFlight):
        return _refused(
            item,
            "REQUEST_IN_FLIGHT",
            "idempotencyKey",
            "this payment is being uploaded by another request",
            retry_after=error.retry_after,
        )
    if isinstance(error, IdempotencyKeyReused):
        return _refused(
            item,
            "IDEMPOTENCY_KEY_REUSED",
            "idempotencyKey",
            "this key was used for another payment",
        )
    if isinstance(error, PaymentInProgress):
        return _refused(
            item,
            "PAYMENT_IN_PROGRESS",
            None,
            "another payment of this consumer is under way: upload this payment again later",
            retry_after=DIGIT_RETRY_AFTER,
        )
    if isinstance(error, PaymentRejected) and error.violations:
        first = error.violations[0]
        return _refused(item, first.code, first.field, first.message)
    if isinstance(error, DigitRejected):
        codes = ", ".join(e.code for e in error.errors) or "no code"
        return _refused(
            item, "DIGIT_REJECTED", None, f"DIGIT refused to check this payment ({codes})"
        )
    # a domain error no rule above expects (a bug): logged with its traceback, and only this
    # item is answered so
    log.error(
        "offline item not checked",
        extra={"idempotency_key": item.idempotency_key},
        exc_info=error,
    )
    return _refused(
        item,
        "INTERNAL_ERROR",
        None,
        f"this payment could not be checked ({type(error).__name__}): upload it again later",
        retry_after=DIGIT_RETRY_AFTER,
    )


def _refused(
    item: OfflineItem,
    code: str,
    field: str | None,
    message: str,
    *,
    retry_after: float | None = None,
) -> ItemResult:
    return ItemResult(
        idempotency_key=item.idempotency_key,
        outcome=Outcome.REFUSED,
        code=code,
        field=field,
        message=message,
        retry_after=retry_after,
    )
