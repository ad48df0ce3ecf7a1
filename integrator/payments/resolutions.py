"""Resolving a NEEDS_ATTENTION payment: the checks against DIGIT each way of closing it
(`Resolution`, in `payments.resolution_records`) needs before the ledger says RESOLVED
(`ResolutionChecks`).

Nothing is changed unless DIGIT answered: its errors become OperationRefused (DIGIT_REJECTED,
DIGIT_UNREACHABLE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC
from decimal import Decimal

from integrator.digit.errors import DigitError, DigitRejected
from integrator.digit.models import DigitPayment
from integrator.payments.models import Payment
from integrator.payments.ports import DigitGateway, PaymentLedger
from integrator.payments.refusals import OperationRefused
from integrator.payments.registration import PAYMENT_ID_KEY, Registrar, is_ours


class ResolutionChecks:
    """What DIGIT must say before a payment is closed. Collaborators that talk to DIGIT are
    factories, so building the checks never builds them."""

    def __init__(
        self,
        *,
        payments: PaymentLedger,
        digit: Callable[[], DigitGateway],
        registrar: Callable[[], Registrar],
    ) -> None:
        self._payments = payments
        self._digit = digit
        self._registrar = registrar

    def with_verified_receipt(
        self, payment: Payment, receipt_number: str
    ) -> tuple[Payment, DigitPayment]:
        """RECEIPTED_BY_HAND: DIGIT's live payment with `receipt_number` for this payment's bills
        or consumers in its city, for the same amount and claimed by no other payment; the
        payment is returned with the receipt stored on its bills. A receipt that is not our own
        create is refused while a create of ours may still be committed."""
        targets = payment.targeted_bill_ids | {
            i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i
        }
        consumers = {(b.business_service, b.consumer_code) for b in payment.bills}
        modules = sorted({b.business_service for b in payment.bills})
        with asking_digit():
            found_elsewhere = False
            for module in modules:
                for found in self._digit().search_payments(
                    tenant_id=payment.tenant_id, module=module, receipt_numbers=[receipt_number]
                ):
                    if not found.is_live:
                        continue
                    if found.tenant_id != payment.tenant_id:
                        found_elsewhere = True  # a receipt number of another city
                        continue
                    details = [
                        d
                        for d in found.details
                        if d.receipt_number == receipt_number
                        and (
                            d.bill_id in targets
                            or (d.business_service, d.consumer_code) in consumers
                        )
                    ]
                    if not details:
                        continue
                    self._require_unclaimed(payment, found, receipt_number)
                    if not is_ours(found, payment.id):
                        # a clerk's receipt: ours must not be in DIGIT, or able to land, beside it
                        self._require_none_of_ours(payment, "receipted with another receipt")
                        self._require_settled_create(payment, "receipted by hand")
                    paid = sum((d.amount_paid for d in details), Decimal(0))
                    if paid != payment.total_amount:
                        raise OperationRefused(
                            "RECEIPT_AMOUNT_DIFFERS",
                            f"receipt {receipt_number} is for {paid}, this payment took"
                            f" {payment.total_amount}: close it another way",
                        )
                    return with_receipts(payment, found), found
        where = " (a receipt of another city has that number)" if found_elsewhere else ""
        raise OperationRefused(
            "RECEIPT_NOT_FOUND",
            f"DIGIT has no live payment with receipt {receipt_number} for this payment's bills"
            f" or consumers in {payment.tenant_id}{where}",
        )

    def _require_unclaimed(self, payment: Payment, found: DigitPayment, receipt: str) -> None:
        owner = found.additional_details.get(PAYMENT_ID_KEY)
        if owner and str(owner) != payment.id:
            raise OperationRefused(
                "RECEIPT_OF_ANOTHER_PAYMENT", f"receipt {receipt} belongs to our payment {owner}"
            )
        claimed = [i for i in self._payments.ids_for_receipt(receipt) if i != payment.id]
        if claimed:
            raise OperationRefused(
                "RECEIPT_OF_ANOTHER_PAYMENT",
                f"receipt {receipt} is already recorded on {claimed[0]}",
            )

    def require_nothing_in_digit(self, payment: Payment) -> None:
        """REFUNDED gives our money back: refused while DIGIT holds a live payment that carries
        our payment id (then DIGIT has the money, and a refund would pay twice), and while a
        create of ours may still be committed."""
        self._require_none_of_ours(payment, "marked refunded")
        self._require_settled_create(payment, "marked refunded")

    def _require_none_of_ours(self, payment: Payment, closing: str) -> None:
        """Refused while DIGIT holds a live payment carrying our payment id (ours landed)."""
        with asking_digit():
            found = self._registrar().lookup(payment)
        ours = [p for p in found.all_ours if p.is_live]
        if ours:
            receipts = sorted(d.receipt_number for p in ours for d in p.details)
            raise OperationRefused(
                "DIGIT_HOLDS_PAYMENT",
                f"DIGIT holds this payment (receipts {receipts}): it cannot be {closing}; "
                "receipt it with DIGIT's receipt of it",
            )

    def _require_settled_create(self, payment: Payment, closing: str) -> None:
        """Refused while a create of ours whose outcome is unknown may still be committed by
        DIGIT (digest, corrections 10): closing the payment then could leave the payer refunded,
        or receipted twice, when that create lands."""
        until = self._registrar().create_may_commit_until(payment)
        if until is not None:
            raise OperationRefused(
                "CREATE_MAY_STILL_COMMIT",
                "DIGIT gave no answer to a create of this payment and may still record it, until"
                f" {until.astimezone(UTC).isoformat(timespec='minutes')} (CREATE_SETTLE_SECONDS):"
                f" it can be {closing} after that, if DIGIT still holds none of ours",
            )


@contextmanager
def asking_digit() -> Iterator[None]:
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


def with_receipts(payment: Payment, found: DigitPayment) -> Payment:
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
