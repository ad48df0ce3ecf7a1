"""What one receipt says: a frozen, validated value built by the caller, read by the renderers.

    ReceiptStatus     REGISTERED, CANCELLED or DISHONOURED (docs/digit.md#cancel)
    TaxLine           one tax head of one billing period, in DIGIT's order
    ReceiptBill       one bill of the payment, with its own receipt number (docs/digit.md#receipts)
    ReceiptDocument   every bill of one payment, how it was paid, who collected it, and whether
                      this print is a duplicate

Money is Decimal. Amounts paid and due are whole rupees (a fraction is a ValueError, as the
integrator never accepts one); only tax heads may carry paise, because DIGIT's demand details do
(WS_CHARGE is rounded to 2 dp and the round-off head lies in (-0.5, +0.5], docs/digit.md#water),
and they may be negative (rebates, exemptions, the advance carry-forward). Building a document
checks all of this once, so the renderers never meet a value they cannot print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from integrator.receipts.money import grouping_with_paise, whole_rupees

__all__ = ["INSTRUMENT_MODES", "ReceiptBill", "ReceiptDocument", "ReceiptStatus", "TaxLine"]

# Modes whose instrument number and date DIGIT requires (docs/digit.md#create)
INSTRUMENT_MODES = frozenset({"CHEQUE", "DD", "OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"})

# Separates receipt numbers in the QR payload: DIGIT's payments/_search takes receiptNumbers
# comma-separated, and idgen's receipt formats never contain a comma.
QR_SEPARATOR = ","


class ReceiptStatus(StrEnum):
    """The payment's standing in DIGIT when the receipt is printed."""

    REGISTERED = "REGISTERED"
    CANCELLED = "CANCELLED"
    DISHONOURED = "DISHONOURED"  # a cheque or DD bounced


def _require_text(value: str, what: str) -> None:
    if not value.strip():
        raise ValueError(f"{what} must not be blank")


def _require_period(start: date, end: date, what: str) -> None:
    if start > end:
        raise ValueError(f"{what} starts after it ends: {start} > {end}")


@dataclass(frozen=True, kw_only=True)
class TaxLine:
    """One tax head of one billing period (a billAccountDetail of a billDetail).

    `name` is the display name (MDMS TaxHeadMaster's, or a localised one); the code is printed
    when it is empty.
    """

    tax_head_code: str
    period_from: date
    period_to: date
    amount: Decimal  # at most two decimals; negative for rebates and the advance carry-forward
    name: str = ""

    def __post_init__(self) -> None:
        _require_text(self.tax_head_code, "tax_head_code")
        _require_period(self.period_from, self.period_to, f"tax head {self.tax_head_code}")
        grouping_with_paise(self.amount)  # raises ValueError beyond paise

    @property
    def label(self) -> str:
        return self.name.strip() or self.tax_head_code

    @property
    def has_paise(self) -> bool:
        return self.amount != self.amount.to_integral_value()


@dataclass(frozen=True, kw_only=True)
class ReceiptBill:
    """One bill of the payment: DIGIT gives each its own receipt number (docs/digit.md#receipts)."""

    receipt_number: str
    business_service: str  # the code, e.g. WS
    service_name: str  # how people call it, e.g. "Water Charges"
    consumer_code: str
    consumer_name: str
    bill_number: str
    period_from: date
    period_to: date
    total_due: Decimal  # the bill's totalAmount, whole rupees
    amount_paid: Decimal  # whole rupees
    tax_lines: tuple[TaxLine, ...] = ()  # in DIGIT's order: periods oldest first, heads by order

    def __post_init__(self) -> None:
        for value, what in (
            (self.receipt_number, "receipt_number"),
            (self.business_service, "business_service"),
            (self.consumer_code, "consumer_code"),
            (self.bill_number, "bill_number"),
        ):
            _require_text(value, what)
        _require_period(self.period_from, self.period_to, f"bill {self.bill_number}")
        if whole_rupees(self.total_due, "total_due") < 0:
            raise ValueError(f"total_due must not be negative, got {self.total_due}")
        if whole_rupees(self.amount_paid, "amount_paid") <= 0:
            raise ValueError(f"amount_paid must be positive, got {self.amount_paid}")

    @property
    def balance(self) -> Decimal:
        """What is still due on this bill after the payment."""
        return max(self.total_due - self.amount_paid, Decimal(0))

    @property
    def advance(self) -> Decimal:
        """What was paid beyond the bill (DIGIT carries it forward as an advance)."""
        return max(self.amount_paid - self.total_due, Decimal(0))


@dataclass(frozen=True, kw_only=True)
class ReceiptDocument:
    """Every bill of one payment, as the citizen's receipt shows it.

    `receipt_date` must be timezone-aware; receipts print it in India Standard Time.
    `instrument_number`/`instrument_date` are the cheque's or DD's (required for those modes);
    `transaction_number` is the card or online reference, or DIGIT's transaction number for cash.
    `duplicate` is true on every print after the first.
    """

    tenant_id: str
    city_name: str  # as MDMS's tenant master gives it
    bills: tuple[ReceiptBill, ...]
    receipt_date: datetime
    payment_mode: str  # collection's PaymentModeEnum value: CASH, CHEQUE, DD, CARD, ...
    collector: str  # the device's name
    instrument_number: str | None = None
    instrument_date: date | None = None
    transaction_number: str | None = None
    status: ReceiptStatus = ReceiptStatus.REGISTERED
    duplicate: bool = False

    def __post_init__(self) -> None:
        _require_text(self.tenant_id, "tenant_id")
        _require_text(self.city_name, "city_name")
        _require_text(self.payment_mode, "payment_mode")
        _require_text(self.collector, "collector")
        if not self.bills:
            raise ValueError("a receipt needs at least one bill")
        numbers = self.receipt_numbers
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"receipt numbers repeat: {', '.join(numbers)}")
        if any(QR_SEPARATOR in n for n in numbers):
            raise ValueError(f"a receipt number contains {QR_SEPARATOR!r}: {', '.join(numbers)}")
        if self.receipt_date.tzinfo is None or self.receipt_date.utcoffset() is None:
            raise ValueError("receipt_date must be timezone-aware")
        if self.payment_mode in INSTRUMENT_MODES and (
            not (self.instrument_number or "").strip() or self.instrument_date is None
        ):
            raise ValueError(f"a {self.payment_mode} payment needs its number and date")

    @property
    def receipt_numbers(self) -> tuple[str, ...]:
        return tuple(bill.receipt_number for bill in self.bills)

    @property
    def total_paid(self) -> Decimal:
        return sum((bill.amount_paid for bill in self.bills), Decimal(0))

    @property
    def total_balance(self) -> Decimal:
        return sum((bill.balance for bill in self.bills), Decimal(0))

    @property
    def qr_payload(self) -> str:
        """What the QR code holds: the receipt numbers, comma-separated, for a DIGIT search."""
        return QR_SEPARATOR.join(self.receipt_numbers)
