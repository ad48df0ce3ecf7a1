"""The operator's actions on payments, from the ops console or the CLI: retry (one, or every
NEEDS_ATTENTION payment a query matches) and resolve (close NEEDS_ATTENTION as RESOLVED once
`ResolutionChecks` found DIGIT agrees; the observer is told, so the device's webhook hears
`payment.resolved`). Refusals are `OperationRefused` (payments.refusals).

Status changes go through `states.transition` (the one place they are decided); saves are
version-checked, so an operator never overwrites what a worker wrote meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from integrator.payments import states
from integrator.payments.bulk import bill_held, consumer_held
from integrator.payments.events import NO_PAYMENT_OBSERVER, PaymentObserver
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import (
    BillHeld,
    ConcurrentModification,
    ConsumerHeld,
    DigitGateway,
    IntegrityRefused,
    Leases,
    PaymentLedger,
    PaymentNotFound,
    StaleFence,
)
from integrator.payments.refusals import OperationRefused, actor_of
from integrator.payments.registration import Registrar
from integrator.payments.resolution_records import Resolution
from integrator.payments.resolutions import ResolutionChecks
from integrator.payments.search import PaymentFinder, PaymentQuery
from integrator.payments.service import RegistrationScheduler

log = logging.getLogger("integrator.operations")

#: How many NEEDS_ATTENTION payments one "retry all matching" may retry at most.
RETRY_MATCHING_LIMIT = 1000


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
        payments: PaymentLedger,
        finder: PaymentFinder,
        leases: Leases,
        lease_ttl_seconds: float,
        digit: Callable[[], DigitGateway],
        registrar: Callable[[], Registrar],
        scheduler: Callable[[], RegistrationScheduler],
        clock: Callable[[], datetime],
        observer: PaymentObserver = NO_PAYMENT_OBSERVER,
    ) -> None:
        self._payments = payments
        self.finder = finder
        self._leases = leases
        self._lease_ttl = lease_ttl_seconds
        self._digit = digit
        self._registrar = registrar
        self._scheduler = scheduler
        self._clock = clock
        self._observer = observer
        self.checks = ResolutionChecks(payments=payments, digit=digit, registrar=registrar)

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
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.NEEDS_ATTENTION):
            raise OperationRefused(
                "NOT_RETRYABLE", f"payment {payment_id} is {payment.status}: it is final"
            )
        # under the payment's lease, like an attempt: a write made while an attempt holds it
        # would make that attempt's own saves fail (its outcome, even DIGIT's receipt, unsaved)
        fence = self._leases.acquire(payment_id, ttl_seconds=self._lease_ttl)
        if fence is None:
            raise OperationRefused(
                "BUSY",
                "a registration attempt holds this payment right now; look again in a minute",
            )
        try:
            payment = self.get(payment_id)  # re-read under the lease
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
            saved = self._save(updated, fence=fence)
        finally:
            self._leases.release(payment_id, fence)
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

        RECEIPTED_BY_HAND: `receipt_number` holds one or more DIGIT receipt numbers (commas or
        spaces between them), each naming the whole DIGIT payment it belongs to; those must be
        live in the payment's city and pay each of its bills (or consumers) what it took
        (`ResolutionChecks.with_verified_receipts`); every receipt is stored on its bill.
        REFUNDED: DIGIT must hold no live payment carrying our payment id (someone else's payment
        for the bill, e.g. BILL_PAID_ELSEWHERE or a part payment at the counter, does not stop it:
        our money is what goes back). Closing releases the payment's consumers.
        Refused while DIGIT cannot be asked, and while a registration attempt holds the payment.
        The observer hears of it once the ledger holds it (never of a refusal).
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
                payment, found = self.checks.with_verified_receipts(payment, receipt_number)
                detail.update(
                    receiptNumber=receipt_number,  # as the operator gave it
                    receiptNumbers=list(payment.receipt_numbers),
                    digitPaymentId=payment.digit_payment_id,
                    digitPaymentIds=[p.id for p in found],
                )
            else:
                self.checks.require_nothing_in_digit(payment)
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
        # after the save: a webhook job that reads the payment must find it RESOLVED
        self._observer.payment_resolved(saved)
        return saved

    @staticmethod
    def _require_resolvable(payment: Payment) -> None:
        if not states.can_transition(payment.status, PaymentStatus.RESOLVED):
            raise OperationRefused(
                "NOT_RESOLVABLE",
                f"payment {payment.id} is {payment.status}: only NEEDS_ATTENTION can be resolved",
            )

    def _save(self, payment: Payment, *, fence: int | None) -> Payment:
        try:
            return self._payments.save(payment, fence=fence)
        except PaymentNotFound:
            raise OperationRefused("NOT_FOUND", f"no payment {payment.id}") from None
        except ConsumerHeld as held:
            # a retried payment takes its consumers again (a quarantined one held none)
            raise OperationRefused(*consumer_held(held.holder)) from None
        except BillHeld as held:
            raise OperationRefused(*bill_held(held.bill_id, held.holder)) from None
        except (ConcurrentModification, StaleFence, IntegrityRefused):
            raise OperationRefused(
                "CHANGED", f"payment {payment.id} changed meanwhile: reload and decide again"
            ) from None
