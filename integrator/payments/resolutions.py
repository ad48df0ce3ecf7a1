"""Resolving a NEEDS_ATTENTION payment: the checks against DIGIT each way of closing it
(`Resolution`, in `payments.resolution_records`) needs before the ledger says RESOLVED
(`ResolutionChecks`).

Nothing is changed unless DIGIT answered: its errors become OperationRefused (DIGIT_REJECTED,
DIGIT_UNREACHABLE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC
from decimal import Decimal

from integrator.digit.errors import DigitError, DigitRejected
from integrator.digit.models import DigitPayment, DigitPaymentDetail
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

    def with_verified_receipts(
        self, payment: Payment, receipts: str
    ) -> tuple[Payment, tuple[DigitPayment, ...]]:
        """RECEIPTED_BY_HAND with the receipt numbers an operator gave (`receipts`, separated by
        commas or spaces). Each names the whole DIGIT payment it belongs to: DIGIT gives every
        bill of a payment its own receipt (digest 5.3), so one receipt of a multi-bill payment
        stands for all of them; a clerk who took the bills separately made one DIGIT payment per
        bill, and one receipt of each is named.

        Those DIGIT payments must be live, of the payment's city, claimed by no other payment,
        and their paymentDetails for this payment's bills or consumers must pay each bill what
        this payment took for it, one receipt per bill. A DIGIT payment of ours is accepted only
        while DIGIT holds no other live payment of ours (a duplicate is cancelled first); a
        clerk's receipt only while DIGIT holds no payment of ours beside it and no create of ours
        may still be committed. The payment is returned with every receipt stored on its bills,
        with the DIGIT payments named."""
        named = receipt_numbers_in(receipts)
        if not named:
            raise OperationRefused("RECEIPT_REQUIRED", "give DIGIT's receipt number")
        found = self._find_by_receipts(payment, named)
        for digit_payment in found:
            self._require_unclaimed(payment, digit_payment)
        self._require_alone_in_digit(payment, found)
        _require_same_amounts(payment, named, found)
        return with_receipts(payment, found), found

    def _require_alone_in_digit(self, payment: Payment, found: Sequence[DigitPayment]) -> None:
        """A DIGIT payment of ours among `found`: refused while DIGIT holds another live one
        (DUPLICATE_IN_DIGIT: closing on either would leave the consumer charged twice). A
        clerk's among them: refused while DIGIT holds a live payment of ours not named, or a
        create of ours may still be committed (it would land beside the clerk's)."""
        named_ours = {p.id: p for p in found if is_ours(p, payment.id)}
        with asking_digit():
            live_ours = {p.id: p for p in self._registrar().lookup(payment).all_ours if p.is_live}
        if named_ours:
            live_ours.update(named_ours)
            if len(live_ours) > 1:
                each = "; ".join(
                    f"{p.id}: receipts {', '.join(sorted(d.receipt_number for d in p.details))}"
                    for p in sorted(live_ours.values(), key=lambda p: p.id)
                )
                raise OperationRefused(
                    "DIGIT_HOLDS_DUPLICATE",
                    f"DIGIT holds {len(live_ours)} live payments of ours ({each}): have DIGIT"
                    " cancel the extra one (DIGIT cancels only a consumer's newest payment),"
                    " then receipt this payment with a receipt of the one that stays",
                )
        if len(named_ours) < len(found):
            beside = [p for i, p in live_ours.items() if i not in named_ours]
            if beside:
                raise _holds_payment(beside, "receipted with another receipt")
            self._require_settled_create(payment, "receipted by hand")

    def _find_by_receipts(
        self, payment: Payment, named: tuple[str, ...]
    ) -> tuple[DigitPayment, ...]:
        """The live DIGIT payments of the payment's city holding each receipt in `named` for
        one of its bills or consumers (searched under each bill's module), in the order named."""
        modules = sorted({b.business_service for b in payment.bills})
        live: dict[str, DigitPayment] = {}
        elsewhere: set[str] = set()
        with asking_digit():
            for module in modules:
                for found in self._digit().search_payments(
                    tenant_id=payment.tenant_id, module=module, receipt_numbers=list(named)
                ):
                    if not found.is_live:
                        continue
                    if found.tenant_id != payment.tenant_id:
                        elsewhere |= {d.receipt_number for d in found.details}
                        continue
                    live.setdefault(found.id, found)
        holders: dict[str, DigitPayment] = {}
        for receipt in named:
            holder = next(
                (
                    p
                    for p in live.values()
                    if any(d.receipt_number == receipt and _is_for(payment, d) for d in p.details)
                ),
                None,
            )
            if holder is None:
                where = (
                    " (a receipt of another city has that number)" if receipt in elsewhere else ""
                )
                raise OperationRefused(
                    "RECEIPT_NOT_FOUND",
                    f"DIGIT has no live payment with receipt {receipt} for this payment's bills"
                    f" or consumers in {payment.tenant_id}{where}",
                )
            holders.setdefault(holder.id, holder)
        return tuple(holders.values())

    def _require_unclaimed(self, payment: Payment, found: DigitPayment) -> None:
        receipts = sorted({d.receipt_number for d in found.details if _is_for(payment, d)})
        owner = found.additional_details.get(PAYMENT_ID_KEY)
        if owner and str(owner) != payment.id:
            raise OperationRefused(
                "RECEIPT_OF_ANOTHER_PAYMENT",
                f"receipt {', '.join(receipts)} belongs to our payment {owner}",
            )
        for receipt in receipts:
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
            raise _holds_payment(ours, closing)

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


def receipt_numbers_in(text: str | None) -> tuple[str, ...]:
    """The receipt numbers an operator gave, separated by commas or spaces (DIGIT's receipt
    numbers hold neither), each once, in the order given."""
    return tuple(dict.fromkeys(r for r in re.split(r"[\s,]+", text or "") if r))


def _holds_payment(ours: Sequence[DigitPayment], closing: str) -> OperationRefused:
    receipts = sorted(d.receipt_number for p in ours for d in p.details)
    return OperationRefused(
        "DIGIT_HOLDS_PAYMENT",
        f"DIGIT holds this payment (receipts {receipts}): it cannot be {closing}; "
        "receipt it with DIGIT's receipt of it",
    )


def _is_for(payment: Payment, detail: DigitPaymentDetail) -> bool:
    """Whether a DIGIT paymentDetail pays one of the payment's bills (any billId it targeted)
    or consumers."""
    targets = payment.targeted_bill_ids | {
        i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i
    }
    consumers = {(b.business_service, b.consumer_code) for b in payment.bills}
    return detail.bill_id in targets or (detail.business_service, detail.consumer_code) in consumers


def _bill_index(payment: Payment, detail: DigitPaymentDetail) -> int | None:
    """Which of the payment's bills a DIGIT paymentDetail pays: by billId (the bill's, or the
    one it was re-targeted from), else by consumer (a clerk paid the consumer's later bill)."""
    for i, bill in enumerate(payment.bills):
        if detail.bill_id in (bill.bill_id, bill.retargeted_from):
            return i
    for i, bill in enumerate(payment.bills):
        if (detail.business_service, detail.consumer_code) == (
            bill.business_service,
            bill.consumer_code,
        ):
            return i
    return None


def _paid_per_bill(
    payment: Payment, found: Sequence[DigitPayment]
) -> tuple[list[list[DigitPaymentDetail]], list[DigitPaymentDetail]]:
    """The paymentDetails of `found` for the payment, per bill (in the payment's order), and
    those for a bill it targeted that none of its bills can be told from."""
    per_bill: list[list[DigitPaymentDetail]] = [[] for _ in payment.bills]
    unplaced: list[DigitPaymentDetail] = []
    for detail in (d for p in found for d in p.details if _is_for(payment, d)):
        index = _bill_index(payment, detail)
        (unplaced if index is None else per_bill[index]).append(detail)
    return per_bill, unplaced


def _require_same_amounts(
    payment: Payment, named: Sequence[str], found: Sequence[DigitPayment]
) -> None:
    """Each bill paid in DIGIT what this payment took for it, by one receipt."""
    per_bill, unplaced = _paid_per_bill(payment, found)
    for bill, details in zip(payment.bills, per_bill, strict=True):
        if len(details) > 1:
            receipts = ", ".join(f"{d.receipt_number} ({d.amount_paid})" for d in details)
            raise OperationRefused(
                "SEVERAL_RECEIPTS_FOR_A_BILL",
                f"{bill.business_service} {bill.consumer_code} is paid by receipts {receipts}:"
                " a bill records one receipt, so this payment cannot be receipted by hand",
            )
    paid = [sum((d.amount_paid for d in details), Decimal(0)) for details in per_bill]
    if not unplaced and all(p == b.amount for p, b in zip(paid, payment.bills, strict=True)):
        return
    total_paid = sum(paid, Decimal(0)) + sum((d.amount_paid for d in unplaced), Decimal(0))
    what = f"receipt {named[0]} is" if len(named) == 1 else f"receipts {', '.join(named)} are"
    if len(payment.bills) == 1 and not unplaced:
        raise OperationRefused(
            "RECEIPT_AMOUNT_DIFFERS",
            f"{what} for {total_paid}, this payment took {payment.total_amount}:"
            " close it another way",
        )

    def each(amounts: Sequence[Decimal]) -> str:
        return ", ".join(
            f"{b.business_service} {b.consumer_code} {a}"
            for b, a in zip(payment.bills, amounts, strict=True)
        )

    other = f", other bills {total_paid - sum(paid, Decimal(0))}" if unplaced else ""
    took = each([b.amount for b in payment.bills])
    raise OperationRefused(
        "RECEIPT_AMOUNT_DIFFERS",
        f"{what} for {total_paid} ({each(paid)}{other}), this payment took"
        f" {payment.total_amount} ({took}): give a receipt of each DIGIT payment that paid its"
        " bills, or close it another way",
    )


def with_receipts(payment: Payment, found: Sequence[DigitPayment]) -> Payment:
    """`payment` with the receipt of each of its bills `found` pays (as verified: it replaces
    a receipt the bill held, e.g. of a cancelled DIGIT payment), and `digit_payment_id` set to
    the DIGIT payment of ours among `found` (else kept, else the first)."""
    per_bill, _ = _paid_per_bill(payment, found)
    bills = tuple(
        replace(
            bill, receipt_number=details[0].receipt_number, receipt_date=details[0].receipt_date
        )
        if details
        else bill
        for bill, details in zip(payment.bills, per_bill, strict=True)
    )
    ours = next((p.id for p in found if is_ours(p, payment.id)), None)
    return replace(
        payment,
        bills=bills,
        digit_payment_id=ours or payment.digit_payment_id or (found[0].id if found else None),
    )
