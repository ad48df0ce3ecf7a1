"""What a receipt says, in order, as blocks both renderers draw (so the slip and the PDF agree).

    receipt_sections(doc)  the document as sections (header, each bill, totals and QR) of blocks:
        Banner   a boxed warning (CANCELLED, DISHONOURED, DUPLICATE), top and bottom
        Title    centred, bold unless said: the city, its tenant id, "PAYMENT RECEIPT"
        Heading  a section's first line: "BILL 1 OF 3", with "DUPLICATE" on duplicates
        Row      a label on the left, its value (an amount, a number) on the right
        Text     a wrapped paragraph (the amount in words)
        Rule     the line between sections
        Qr       the payload of the QR code (the receipt numbers)
    receipt_blocks(doc)    the same blocks in one tuple
    printable(text)        the text folded to printable ASCII, as every block holds it

Every caller-given string goes through `printable`: thermal printers' code pages differ from model
to model and the PDF's standard fonts cover Latin only, so accents are dropped ("Sāhnī" -> "Sahni")
and any other character prints as "?". Names in Indian scripts therefore need a font that can shape
them, which neither renderer has yet.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import Enum
from zoneinfo import ZoneInfo

from integrator.receipts.document import (
    INSTRUMENT_MODES,
    ReceiptBill,
    ReceiptDocument,
    ReceiptStatus,
    TaxLine,
)
from integrator.receipts.money import amount_in_words, grouping_with_paise, indian_grouping

__all__ = [
    "Banner",
    "Block",
    "Heading",
    "Qr",
    "Row",
    "Rule",
    "Text",
    "Title",
    "Tone",
    "printable",
    "receipt_blocks",
    "receipt_sections",
]

IST = ZoneInfo("Asia/Kolkata")  # DIGIT serves Indian cities: receipts show India Standard Time

# How collection's PaymentModeEnum values read on paper
_MODE_NAMES = {
    "CASH": "Cash",
    "CHEQUE": "Cheque",
    "DD": "Demand draft",
    "CARD": "Card",
    "ONLINE": "Online",
    "OFFLINE_NEFT": "NEFT",
    "OFFLINE_RTGS": "RTGS",
    "ONLINE_NEFT": "NEFT (online)",
    "ONLINE_RTGS": "RTGS (online)",
    "POSTAL_ORDER": "Postal order",
}
_INSTRUMENT_LABELS = {"CHEQUE": "Cheque", "DD": "DD", "POSTAL_ORDER": "Postal order"}


class Tone(Enum):
    """How loud a banner is: ALERT (the receipt is void) or NOTICE (a duplicate print)."""

    ALERT = "alert"
    NOTICE = "notice"


@dataclass(frozen=True)
class Banner:
    lines: tuple[str, ...]
    tone: Tone


@dataclass(frozen=True)
class Title:
    text: str
    strong: bool = True


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    strong: bool = False
    indent: int = 0  # levels: tax heads sit under their billing period


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Rule:
    heavy: bool = False


@dataclass(frozen=True)
class Qr:
    payload: str
    caption: str


Block = Banner | Title | Heading | Row | Text | Rule | Qr


def printable(text: str) -> str:
    """`text` as printable ASCII on one line (see the module docstring for why)."""
    folded = unicodedata.normalize("NFKD", text)
    chars = []
    for ch in folded:
        if unicodedata.combining(ch):
            continue  # the accent of a decomposed letter
        if ch.isspace():
            chars.append(" ")
        elif " " <= ch <= "~":
            chars.append(ch)
        else:
            chars.append("?")
    return " ".join("".join(chars).split())


def _rupees(amount_text: str) -> str:
    return f"Rs. {amount_text}"


def _day(value: date) -> str:
    return value.strftime("%d-%m-%Y")


def _period(start: date, end: date) -> str:
    return f"{_day(start)} to {_day(end)}"


def _status_banner(status: ReceiptStatus) -> Banner | None:
    if status is ReceiptStatus.CANCELLED:
        return Banner(("CANCELLED", "THIS RECEIPT IS NOT VALID"), Tone.ALERT)
    if status is ReceiptStatus.DISHONOURED:
        return Banner(("DISHONOURED", "PAYMENT BOUNCED: NOT VALID"), Tone.ALERT)
    return None


def _banners(doc: ReceiptDocument) -> tuple[Block, ...]:
    banners: list[Block] = []
    status = _status_banner(doc.status)
    if status is not None:
        banners.append(status)
    if doc.duplicate:
        banners.append(Banner(("DUPLICATE", "COPY OF AN EARLIER PRINT"), Tone.NOTICE))
    return tuple(banners)


def _payment_rows(doc: ReceiptDocument) -> list[Block]:
    mode = doc.payment_mode.upper()
    rows: list[Block] = [
        Row("Receipt date", doc.receipt_date.astimezone(IST).strftime("%d-%m-%Y %H:%M")),
        Row("Payment mode", _MODE_NAMES.get(mode, printable(doc.payment_mode))),
    ]
    if mode in INSTRUMENT_MODES or doc.instrument_number:
        kind = _INSTRUMENT_LABELS.get(mode, "Instrument")
        if doc.instrument_number:
            rows.append(Row(f"{kind} no.", printable(doc.instrument_number)))
        if doc.instrument_date is not None:
            rows.append(Row(f"{kind} date", _day(doc.instrument_date)))
    if doc.transaction_number:
        label = "Card ref." if mode == "CARD" else "Transaction no."
        rows.append(Row(label, printable(doc.transaction_number)))
    rows.append(Row("Collected by", printable(doc.collector)))
    return rows


def _tax_rows(lines: tuple[TaxLine, ...]) -> list[Block]:
    # One format per bill: if any head carries paise, all of them show two decimals so the
    # column lines up.
    fmt = grouping_with_paise if any(t.has_paise for t in lines) else indian_grouping
    rows: list[Block] = []
    period: tuple[date, date] | None = None
    for line in lines:
        if (line.period_from, line.period_to) != period:
            period = (line.period_from, line.period_to)
            rows.append(Row(_period(*period), "", indent=1))
        rows.append(Row(printable(line.label), fmt(line.amount), indent=2))
    return rows


def _bill_blocks(bill: ReceiptBill, index: int, count: int, duplicate: bool) -> list[Block]:
    heading = f"BILL {index} OF {count}" if count > 1 else "BILL"
    if duplicate:
        heading += " - DUPLICATE"
    service = printable(f"{bill.service_name} ({bill.business_service})".strip())
    blocks: list[Block] = [
        Rule(),
        Heading(heading),
        Row("Receipt no.", printable(bill.receipt_number), strong=True),
        Row("Service", service),
        Row("Consumer no.", printable(bill.consumer_code)),
        Row("Name", printable(bill.consumer_name)),
        Row("Bill no.", printable(bill.bill_number)),
        Row("Period", _period(bill.period_from, bill.period_to)),
    ]
    if bill.tax_lines:
        blocks.append(Row("Tax heads", ""))
        blocks += _tax_rows(bill.tax_lines)
    blocks += [
        Row("Bill amount", _rupees(indian_grouping(bill.total_due))),
        Row("Amount paid", _rupees(indian_grouping(bill.amount_paid)), strong=True),
        Row("Balance left", _rupees(indian_grouping(bill.balance))),
    ]
    if bill.advance:
        blocks.append(Row("Advance", _rupees(indian_grouping(bill.advance))))
    return blocks


Section = tuple[Block, ...]  # blocks a page break should not split when they fit on one page


def receipt_sections(doc: ReceiptDocument, *, closing_banners: bool = True) -> tuple[Section, ...]:
    """The receipt, top to bottom, in sections: the header, each bill, the totals with the QR code.

    Banners open the receipt and, unless told not to, close it too, so a torn-off slip still says
    so (a PDF marks every page with a watermark instead).
    """
    banners = _banners(doc)
    count = len(doc.bills)
    header: Section = (
        *banners,
        Title(printable(doc.city_name)),
        Title(f"({printable(doc.tenant_id)})", strong=False),
        Title("PAYMENT RECEIPT"),
        Rule(),
        *_payment_rows(doc),
    )
    bills = tuple(
        tuple(_bill_blocks(bill, index, count, doc.duplicate))
        for index, bill in enumerate(doc.bills, start=1)
    )
    caption = "Receipt no." if count == 1 else "Receipt nos."
    # the QR code stays with the totals: a page holding only a QR code would look like a new receipt
    totals: Section = (
        Rule(heavy=True),
        Row("TOTAL PAID", _rupees(indian_grouping(doc.total_paid)), strong=True),
        Text(amount_in_words(doc.total_paid)),
        Row("Balance left", _rupees(indian_grouping(doc.total_balance))),
        Rule(),
        Qr(doc.qr_payload, caption=caption),
    )
    closing: tuple[Section, ...] = (banners,) if closing_banners and banners else ()
    return (header, *bills, totals, *closing)


def receipt_blocks(doc: ReceiptDocument, *, closing_banners: bool = True) -> tuple[Block, ...]:
    """The receipt's blocks top to bottom: `receipt_sections`, joined."""
    return tuple(
        block
        for section in receipt_sections(doc, closing_banners=closing_banners)
        for block in section
    )
