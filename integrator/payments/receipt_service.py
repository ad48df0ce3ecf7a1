"""Receipts a printer can print, and reprints of DIGIT receipts by number, with their access rules.

    ReceiptService.print_receipt(device=, payment_id=, rendering=)   GET /v1/payments/{id}/receipt
    ReceiptService.lookup(device=, tenant_id=, ..., consumer_code=)  GET /v1/receipts

A payment's receipt is built from what the ledger holds (receipt numbers and dates, amounts, the
bill's total when it was paid, how it was paid, which device took it) and what only DIGIT holds
(each bill's tax heads and periods, the consumer's name, whether DIGIT cancelled or dishonoured
it), read from collection's payment search and cached briefly (`RECEIPT_CACHE_SECONDS`): a
device typically prints a receipt right after the payment and perhaps once more. While DIGIT
cannot answer, the bill snapshot served to the device stands in for DIGIT's copy of the bill.

Every print is counted in the ledger in one statement; every print after the first is a
DUPLICATE. The count is taken after the receipt was built (a print that cannot be built is not
counted) and before it is handed out, so a lost answer makes the next print a duplicate: never
two originals.

Access (a receipt shows who paid what):
- a device prints the receipts of payments it collected (others are PAYMENT_NOT_FOUND);
- a receipt looked up by number that is not of this device's payments also needs the consumer
  code it was issued for (a wrong one is RECEIPT_NOT_FOUND, as a wrong number is), and is answered
  without the payer's mobile number;
- such lookups are rate-limited per device (`RECEIPT_LOOKUPS_PER_MINUTE`) and every miss is
  logged with the device id, so receipt numbers (sequential per city and year) cannot be walked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Protocol

from integrator.digit.errors import (
    DigitAuthError,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitUnavailable,
)
from integrator.digit.models import Bill, DigitPayment, Tenant
from integrator.payments.devices import Device
from integrator.payments.models import Payment
from integrator.payments.ports import ReceiptFacts
from integrator.payments.resolution_records import receipted_by_hand
from integrator.payments.use_cases import (
    ConsumerCodeRequired,
    DigitUnreachable,
    PaymentNotFound,
    Receipt,
    ReceiptLine,
    ReceiptLookupLimited,
    ReceiptNotFound,
    ReceiptNotReady,
)
from integrator.receipts import ReceiptBill, ReceiptDocument, ReceiptStatus, TaxLine

log = logging.getLogger("integrator.receipts")

NO_ANSWER = (DigitUnavailable, DigitOutcomeUnknown, DigitAuthError, DigitForbidden)
DIGIT_RETRY_AFTER = 30

#: How each rendering is recorded in the ledger's print log.
RENDERINGS = ("json", "text", "pdf")

#: Ledger statuses whose receipts are DIGIT's (the receipt numbers are known). CANCELLED and
#: DISHONOURED are the payment workflow's outcomes: their receipts print, marked void.
PRINTABLE_STATUSES = frozenset({"REGISTERED", "CANCELLED", "DISHONOURED"})

#: How services read on paper when DIGIT's own name for them is not at hand (Punjab's modules).
SERVICE_NAMES = {
    "WS": "Water Charges",
    "SW": "Sewerage Charges",
    "PT": "Property Tax",
    "TL": "Trade Licence",
    "FIRENOC": "Fire NOC",
    "BPA": "Building Permit",
}


# --- what the service needs (implemented in store/ and digit/) --------------------------------


class PaymentsReader(Protocol):
    def get(self, payment_id: str) -> Payment | None: ...

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]: ...

    def ids_for_receipt(self, receipt_number: str) -> list[str]: ...


class PrintCounter(Protocol):
    def count_print(self, payment_id: str, *, device_id: str, rendering: str, at: datetime) -> int:
        """Record one print atomically; its number (1 for the first)."""
        ...


class FactsCache(Protocol):
    def get(self, tenant_id: str, module: str, receipt_number: str) -> ReceiptFacts | None: ...

    def put(
        self, tenant_id: str, module: str, facts: ReceiptFacts, *, ttl_seconds: int
    ) -> None: ...


class LookupLimiter(Protocol):
    def allow(self, device_id: str, limit_per_minute: int, now: datetime) -> int:
        """0 when allowed (and counted), else the seconds to wait."""
        ...


class BillSnapshots(Protocol):
    def get(self, bill_id: str, *, max_age: timedelta, now: datetime) -> Bill | None: ...


class DigitReader(Protocol):
    def search_payments(
        self, *, tenant_id: str, module: str, receipt_numbers: Sequence[str] = ()
    ) -> list[DigitPayment]: ...

    def tenants(self) -> list[Tenant]: ...


@dataclass(frozen=True, kw_only=True)
class PrintedReceipt:
    """One print of a payment's receipt: the document (duplicate after the first print)."""

    payment_id: str
    document: ReceiptDocument
    print_number: int
    mobile_number: str | None  # the payer's, as the collecting device entered it


@dataclass(frozen=True, kw_only=True)
class ReceiptSettings:
    cache_seconds: int
    lookups_per_minute: int
    snapshot_max_age_seconds: int
    timezone: tzinfo
    collectable_services: tuple[str, ...]


class ReceiptService:
    """Builds, counts and guards receipts (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: ReceiptSettings,
        payments: PaymentsReader,
        prints: PrintCounter,
        facts_cache: FactsCache,
        limiter: LookupLimiter,
        snapshots: BillSnapshots,
        digit: DigitReader,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._payments = payments
        self._prints = prints
        self._cache = facts_cache
        self._limiter = limiter
        self._snapshots = snapshots
        self._digit = digit
        self._clock = clock

    # --- a payment's receipt ---

    def print_receipt(self, *, device: Device, payment_id: str, rendering: str) -> PrintedReceipt:
        """The receipt of one of this device's payments, counted as one print."""
        if rendering not in RENDERINGS:
            raise ValueError(f"rendering must be one of {RENDERINGS}")
        payment = self._payments.get(payment_id)
        if payment is None or payment.device_id != device.id:
            raise PaymentNotFound(payment_id)
        if not printable(payment):
            raise ReceiptNotReady(payment.id, str(payment.status))
        facts = self._facts_for(payment)
        document = self._document(payment, facts, collector=device.name)
        number = self._prints.count_print(
            payment.id, device_id=device.id, rendering=rendering, at=self._clock()
        )
        log.info(
            "receipt printed",
            extra={
                "payment_id": payment.id,
                "device_id": device.id,
                "print_number": number,
                "rendering": rendering,
            },
        )
        return PrintedReceipt(
            payment_id=payment.id,
            document=_with_duplicate(document, number > 1),
            print_number=number,
            mobile_number=payment.mobile_number,
        )

    def _facts_for(self, payment: Payment) -> dict[str, ReceiptFacts]:
        """DIGIT's facts for each receipt number of the payment (cache, DIGIT, or snapshots)."""
        tenant = payment.tenant_id
        found: dict[str, ReceiptFacts] = {}
        missing: dict[str, list[str]] = {}
        for bill in payment.bills:
            number = bill.receipt_number or ""
            cached = self._cache.get(tenant, bill.business_service, number)
            if cached is not None:
                found[number] = cached
            else:
                missing.setdefault(bill.business_service, []).append(number)
        try:
            for module, numbers in sorted(missing.items()):
                for digit_payment in self._digit.search_payments(
                    tenant_id=tenant, module=module, receipt_numbers=numbers
                ):
                    for facts in facts_of(digit_payment):
                        if facts.receipt_number in numbers:
                            found[facts.receipt_number] = facts
                            self._cache.put(
                                tenant, module, facts, ttl_seconds=self._settings.cache_seconds
                            )
        except NO_ANSWER as exc:
            log.warning(
                "DIGIT unreachable while printing a receipt; using bill snapshots",
                extra={"payment_id": payment.id, "error": type(exc).__name__},
            )
            return found | self._from_snapshots(payment, found, required=True)
        # DIGIT answered without a receipt's bill (not found, or a bill of an odd shape): the
        # served bill fills in if there is one, else that bill prints without its tax heads
        return found | self._from_snapshots(payment, found, required=False)

    def _from_snapshots(
        self, payment: Payment, found: dict[str, ReceiptFacts], *, required: bool
    ) -> dict[str, ReceiptFacts]:
        """Stand-ins from the bills served to devices for the receipts `found` lacks a bill for;
        DigitUnreachable when one is `required` and there is none."""
        max_age = timedelta(seconds=self._settings.snapshot_max_age_seconds)
        now = self._clock()
        stand_ins: dict[str, ReceiptFacts] = {}
        for bill in payment.bills:
            number = bill.receipt_number or ""
            known = found.get(number)
            if known is not None and known.bill is not None:
                continue
            snapshot = self._snapshots.get(bill.bill_id, max_age=max_age, now=now)
            if snapshot is None:
                if required and known is None:
                    raise DigitUnreachable(retry_after=DIGIT_RETRY_AFTER)
                continue
            if known is not None:
                stand_ins[number] = replace(known, bill=snapshot)
                continue
            stand_ins[number] = ReceiptFacts(
                receipt_number=number,
                payment_status=None,
                instrument_status=None,
                transaction_number=None,
                payer_name=snapshot.payer_name,
                bill=snapshot,
            )
        return stand_ins

    def _document(
        self, payment: Payment, facts: dict[str, ReceiptFacts], *, collector: str
    ) -> ReceiptDocument:
        tz = self._settings.timezone
        bills = []
        for bill in payment.bills:
            number = bill.receipt_number or ""
            fact = facts.get(number)
            digit_bill = fact.bill if fact is not None else None
            day = _local_day(payment, tz)
            lines = tax_lines(digit_bill, tz, fallback=day) if digit_bill is not None else ()
            start, end = bill_period(digit_bill, tz, fallback=day)
            bills.append(
                ReceiptBill(
                    receipt_number=number,
                    business_service=bill.business_service,
                    service_name=SERVICE_NAMES.get(bill.business_service, bill.business_service),
                    consumer_code=bill.consumer_code,
                    consumer_name=_first(
                        digit_bill.payer_name if digit_bill else None,
                        fact.payer_name if fact else None,
                        payment.payer_name,
                        payment.paid_by,
                    ),
                    bill_number=bill.bill_number or bill.bill_id,
                    period_from=start,
                    period_to=end,
                    total_due=bill.total_due,
                    amount_paid=bill.amount,
                    tax_lines=lines,
                )
            )
        dates = [b.receipt_date for b in payment.bills if b.receipt_date is not None]
        receipt_date = min(dates) if dates else (payment.registered_at or payment.created_at)
        digit_txn = next((f.transaction_number for f in facts.values() if f.transaction_number), "")
        return ReceiptDocument(
            tenant_id=payment.tenant_id,
            city_name=self._city_name(payment.tenant_id),
            bills=tuple(bills),
            receipt_date=receipt_date,
            payment_mode=payment.payment_mode,
            collector=collector,
            instrument_number=payment.instrument_number,
            instrument_date=payment.instrument_date,
            transaction_number=payment.transaction_number or digit_txn or None,
            status=receipt_status(str(payment.status), facts.values()),
        )

    def _city_name(self, tenant_id: str) -> str:
        try:
            tenants = self._digit.tenants()
        except NO_ANSWER:
            tenants = []
        for tenant in tenants:
            if tenant.code == tenant_id:
                return tenant.city_name or tenant.name or tenant_id
        return tenant_id.split(".")[-1].replace("_", " ").title()

    # --- a receipt by number ---

    def lookup(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        receipt_number: str,
        consumer_code: str | None,
    ) -> Receipt:
        """A DIGIT receipt by number, under the access rules of the module docstring."""
        own = self._own_payment(device, tenant_id, business_service, receipt_number)
        if own is None:
            wait = self._limiter.allow(device.id, self._settings.lookups_per_minute, self._clock())
            if wait:
                log.warning(
                    "receipt lookups over the limit",
                    extra={"device_id": device.id, "tenant_id": tenant_id},
                )
                raise ReceiptLookupLimited(wait)
            if consumer_code is None:
                self._miss(device, tenant_id, business_service, receipt_number, "no consumer code")
                raise ConsumerCodeRequired()
        receipt = self._digit_receipt(tenant_id, business_service, receipt_number)
        if receipt is None:
            self._miss(device, tenant_id, business_service, receipt_number, "no such receipt")
            raise ReceiptNotFound(receipt_number)
        if own is not None and receipt.bill_id in _bill_ids(own):
            # the ledger may know of a cancellation DIGIT's search does not show yet, and
            # DIGIT of one made without us: either voids the receipt (as on a print)
            ledger = receipt_status(str(own.status), ())
            if receipt.status is ReceiptStatus.REGISTERED:
                receipt = replace(receipt, status=ledger)
            return _with_mobile(receipt, own.mobile_number)
        # not this device's payment after all (DIGIT's receipt is for another bill): the rules
        # for anyone else's receipt apply
        if consumer_code is None:
            self._miss(device, tenant_id, business_service, receipt_number, "no consumer code")
            raise ConsumerCodeRequired()
        if receipt.consumer_code != consumer_code:
            self._miss(device, tenant_id, business_service, receipt_number, "consumer code differs")
            raise ReceiptNotFound(receipt_number)
        return receipt

    def _own_payment(
        self, device: Device, tenant_id: str, business_service: str, receipt_number: str
    ) -> Payment | None:
        """This device's payment that holds the receipt (receipt numbers repeat across cities,
        so the tenant and the service must match too)."""
        ids = self._payments.ids_for_receipt(receipt_number)
        for payment in self._payments.get_many(ids) if ids else []:
            if (
                payment.device_id == device.id
                and payment.tenant_id == tenant_id
                and any(
                    b.receipt_number == receipt_number and b.business_service == business_service
                    for b in payment.bills
                )
            ):
                return payment
        return None

    def _digit_receipt(
        self, tenant_id: str, business_service: str, receipt_number: str
    ) -> Receipt | None:
        if business_service not in self._settings.collectable_services:
            # not a module we collect for: none of our receipts, and DIGIT would refuse the search
            return None
        try:
            found = self._digit.search_payments(
                tenant_id=tenant_id, module=business_service, receipt_numbers=[receipt_number]
            )
        except NO_ANSWER as exc:
            raise DigitUnreachable(retry_after=DIGIT_RETRY_AFTER) from exc
        for digit_payment in found:
            for index, detail in enumerate(digit_payment.details):
                if detail.receipt_number == receipt_number:
                    return digit_receipt(digit_payment, detail_index=index)
        return None

    @staticmethod
    def _miss(
        device: Device, tenant_id: str, business_service: str, receipt_number: str, why: str
    ) -> None:
        log.warning(
            "receipt lookup refused: %s",
            why,
            extra={
                "device_id": device.id,
                "tenant_id": tenant_id,
                "business_service": business_service,
                "receipt_number": receipt_number,
            },
        )


# --- pure helpers ------------------------------------------------------------------------------


def printable(payment: Payment) -> bool:
    """Does DIGIT hold a receipt for every bill of the payment?"""
    if not payment.bills or not all(b.receipt_number for b in payment.bills):
        return False
    return str(payment.status) in PRINTABLE_STATUSES or receipted_by_hand(payment)


def receipt_status(ledger_status: str, facts: Iterable[ReceiptFacts]) -> ReceiptStatus:
    """CANCELLED or DISHONOURED when the ledger or DIGIT says so (DIGIT's workflow may have run
    without us), else REGISTERED."""
    said = {ledger_status.upper()}
    for fact in facts:
        said |= {(fact.payment_status or "").upper(), (fact.instrument_status or "").upper()}
    if "DISHONOURED" in said:
        return ReceiptStatus.DISHONOURED
    if "CANCELLED" in said:
        return ReceiptStatus.CANCELLED
    return ReceiptStatus.REGISTERED


def facts_of(payment: DigitPayment) -> list[ReceiptFacts]:
    return [
        ReceiptFacts(
            receipt_number=detail.receipt_number,
            payment_status=payment.payment_status,
            instrument_status=payment.instrument_status,
            transaction_number=payment.transaction_number,
            payer_name=payment.payer_name,
            bill=detail.bill,
        )
        for detail in payment.details
    ]


def _day(value: datetime | None, tz: tzinfo) -> date | None:
    return None if value is None else value.astimezone(tz).date()


def _local_day(payment: Payment, tz: tzinfo) -> date:
    return (payment.registered_at or payment.created_at).astimezone(tz).date()


def bill_period(bill: Bill | None, tz: tzinfo, *, fallback: date) -> tuple[date, date]:
    """The bill's first and last day (its billDetails' periods), in DIGIT's zone."""
    start = _day(bill.period_from, tz) if bill is not None else None
    end = _day(bill.period_to, tz) if bill is not None else None
    start = start or end or fallback
    end = end or start
    return (start, end) if start <= end else (end, start)


def tax_lines(bill: Bill, tz: tzinfo, *, fallback: date) -> tuple[TaxLine, ...]:
    """Each tax head of each period, in DIGIT's order (periods oldest first, heads by `order`);
    heads of zero are left out (DIGIT lists every head of the service, mostly zero)."""
    details = sorted(
        bill.details,
        key=lambda d: d.from_period.timestamp() if d.from_period is not None else 0.0,
    )
    lines: list[TaxLine] = []
    for detail in details:
        start = _day(detail.from_period, tz) or fallback
        end = _day(detail.to_period, tz) or start
        if end < start:
            start, end = end, start
        for head in sorted(detail.account_details, key=lambda a: (a.order, a.tax_head_code)):
            if head.amount == 0 or not head.tax_head_code:
                continue
            lines.append(
                TaxLine(
                    tax_head_code=head.tax_head_code,
                    period_from=start,
                    period_to=end,
                    amount=head.amount.quantize(Decimal("0.01"))
                    if head.amount != head.amount.to_integral_value()
                    else head.amount,
                )
            )
    return tuple(lines)


def digit_receipt(payment: DigitPayment, *, detail_index: int) -> Receipt:
    """One paymentDetail of a DIGIT payment as the API's Receipt (no mobile number), with the
    payment's standing in DIGIT (paymentStatus / instrumentStatus CANCELLED or DISHONOURED)."""
    detail = payment.details[detail_index]
    return Receipt(
        receipt_number=detail.receipt_number,
        receipt_date=detail.receipt_date,
        tenant_id=payment.tenant_id,
        business_service=detail.business_service,
        consumer_code=detail.consumer_code,
        bill_id=detail.bill_id,
        bill_number=detail.bill_number,
        payer_name=payment.payer_name,
        paid_by=payment.paid_by,
        payment_mode=payment.payment_mode,
        amount_paid=detail.amount_paid,
        total_due=detail.total_due,
        lines=tuple(
            ReceiptLine(tax_head_code=line.tax_head_code, amount=line.adjusted_amount)
            for line in detail.lines
            if line.adjusted_amount != Decimal(0)
        ),
        payment_id=payment.id,
        status=receipt_status("", facts_of(payment)),
    )


def _bill_ids(payment: Payment) -> set[str]:
    """Every bill the payment paid, including a bill it was moved from."""
    return {b.bill_id for b in payment.bills} | {
        b.retargeted_from for b in payment.bills if b.retargeted_from
    }


def _with_mobile(receipt: Receipt, mobile_number: str | None) -> Receipt:
    return replace(receipt, mobile_number=mobile_number)


def _with_duplicate(document: ReceiptDocument, duplicate: bool) -> ReceiptDocument:
    return replace(document, duplicate=duplicate)


def _first(*values: str | None) -> str:
    return next((v.strip() for v in values if v and v.strip()), "")
