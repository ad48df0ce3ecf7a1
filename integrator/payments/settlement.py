"""The settlement report: the payments accepted on one calendar day, one row per bill.

    settlement_rows(store, day, tz, device_id=None, cursor=None, limit=100) -> SettlementPage
    iter_settlement_rows(store, day, tz, device_id=None)                      -> every row (CSV)
    with_offline_marks(rows, offline)       the rows with their offline marks (the CSV's columns)

"Accepted on `day`" means `created_at` in [day 00:00, next day 00:00) in `tz` (the
SETTLEMENT_TIMEZONE, Asia/Kolkata by default). Rows come newest payment first, bills in payment
order. The cursor names the last row shown (`<created ms>.<payment id>.<bill index>`), so payments
accepted while a device pages through today do not shift or repeat rows. Amounts stay Decimal.
The web view (`integrator.api.reports`) filters by the calling device; the ops console passes
`device_id=None` for every device.

A payment DIGIT cancelled or dishonoured, or that an operator resolved as REFUNDED, keeps its row
on the day it was accepted (its `status` says CANCELLED/DISHONOURED/RESOLVED) and gets a REVERSAL
row (`entry`, negative `amount`, `reversedAt`) on the day the money went back, after that day's
accepted rows: a day's total is what was kept, as the day close and the ops overview count it.
Reversal rows continue with cursors `r.<reversed ms>.<payment id>.<bill index>`. A payment DIGIT
refused while the device waited (REFUSED) has no row: no money changed hands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from integrator.payments.cash_records import OfflineMark
from integrator.payments.days import LAST_DAY, day_bounds, next_day_start
from integrator.payments.models import Payment, PaymentStatus

__all__ = [
    "CSV_COLUMNS",
    "InvalidCursor",
    "SettlementPage",
    "SettlementRow",
    "csv_record",
    "day_bounds",
    "iter_settlement_rows",
    "settlement_rows",
    "with_offline_marks",
]

#: Payments loaded per round trip while scanning a day.
SCAN_BATCH = 200
MAX_LIMIT = 500
_CURSOR = re.compile(r"(r\.)?(\d{1,16})\.([A-Za-z0-9_-]{1,64})\.(\d{1,3})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The latest millisecond a cursor may carry: the end of the last day a report may name (a larger
#: one, e.g. 9999999999999999, overflows the datetime built from it).
_LAST_MS = int((next_day_start(LAST_DAY, UTC) - _EPOCH) / timedelta(milliseconds=1))


class PaymentsByDay(Protocol):
    """What the report reads (store.payments.PaymentStore)."""

    def ids_created_between(
        self, start: datetime, end: datetime, *, offset: int = 0, limit: int = 100
    ) -> list[str]: ...

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]: ...

    def reversals_between(self, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        """(payment id, when DIGIT reversed it) for reversals in [start, end), newest first
        (equal times in descending id order)."""
        ...


class InvalidCursor(ValueError):
    """The cursor was not produced by this report."""


@dataclass(frozen=True, kw_only=True)
class SettlementRow:
    """One bill of one accepted payment."""

    payment_id: str
    device_id: str
    idempotency_key: str
    tenant_id: str
    bill_id: str
    bill_number: str
    consumer_code: str
    business_service: str
    amount: Decimal
    payment_mode: str
    status: str
    receipt_number: str | None
    collected_at: datetime | None
    accepted_at: datetime
    registered_at: datetime | None
    resolution: str | None
    cursor: str  # the cursor that continues after this row
    entry: str = "PAYMENT"  # or "REVERSAL": DIGIT cancelled/dishonoured it on this day
    reversed_at: datetime | None = None
    # collected offline and uploaded later (filled by `with_offline_marks`; collectedAt is earlier)
    offline: bool = False
    uploaded_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SettlementPage:
    rows: tuple[SettlementRow, ...]
    next_cursor: str | None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _parse_cursor(cursor: str) -> tuple[bool, int, str, int]:
    """(a reversal row's cursor?, ms, payment id, bill index)."""
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match.group(2)) > _LAST_MS:  # no row of ours is that late
        raise InvalidCursor(cursor)
    return bool(match.group(1)), int(match.group(2)), match.group(3), int(match.group(4))


def _row(payment: Payment, index: int, tz: ZoneInfo) -> SettlementRow:
    bill = payment.bills[index]

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz) if moment is not None else None

    accepted = payment.created_at.astimezone(tz)
    return SettlementRow(
        payment_id=payment.id,
        device_id=payment.device_id,
        idempotency_key=payment.idempotency_key,
        tenant_id=payment.tenant_id,
        bill_id=bill.bill_id,
        bill_number=bill.bill_number,
        consumer_code=bill.consumer_code,
        business_service=bill.business_service,
        amount=bill.amount,
        payment_mode=payment.payment_mode,
        status=payment.status.value,
        receipt_number=bill.receipt_number,
        collected_at=local(payment.collected_at),
        accepted_at=accepted,
        registered_at=local(payment.registered_at),
        resolution=payment.resolution,
        cursor=f"{_ms(payment.created_at)}.{payment.id}.{index}",
    )


def _scan(
    store: PaymentsByDay, day: date, tz: ZoneInfo, device_id: str | None, cursor: str | None
) -> Iterator[SettlementRow]:
    if cursor is not None and _parse_cursor(cursor)[0]:
        yield from _reversals(store, day, tz, device_id, cursor)
        return
    yield from _accepted(store, day, tz, device_id, cursor)
    yield from _reversals(store, day, tz, device_id, None)


def _reversals(
    store: PaymentsByDay, day: date, tz: ZoneInfo, device_id: str | None, cursor: str | None
) -> Iterator[SettlementRow]:
    start, end = day_bounds(day, day, tz)
    after = _parse_cursor(cursor)[1:] if cursor is not None else None
    found = store.reversals_between(start, end)
    by_id = {p.id: p for p in store.get_many([pid for pid, _ in found])}
    for payment_id, reversed_at in found:
        payment = by_id.get(payment_id)
        if payment is None or (device_id is not None and payment.device_id != device_id):
            continue
        first = 0
        if after is not None:
            key = (_ms(reversed_at), payment_id)
            if key > (after[0], after[1]):
                continue
            if key == (after[0], after[1]):
                first = after[2] + 1
        for index in range(first, len(payment.bills)):
            row = _row(payment, index, tz)
            yield replace(
                row,
                entry="REVERSAL",
                amount=-row.amount,
                reversed_at=reversed_at.astimezone(tz),
                cursor=f"r.{_ms(reversed_at)}.{payment.id}.{index}",
            )


def _accepted(
    store: PaymentsByDay, day: date, tz: ZoneInfo, device_id: str | None, cursor: str | None
) -> Iterator[SettlementRow]:
    start, end = day_bounds(day, day, tz)
    after: tuple[int, str, int] | None = None
    upper = end
    if cursor is not None:
        after = _parse_cursor(cursor)[1:]
        # Up to and including the cursor's millisecond (+0.5 ms against float rounding).
        upper = min(end, _EPOCH + timedelta(microseconds=(after[0] + 1) * 1000 + 500))
    seen: set[str] = set()
    offset = 0
    while True:
        ids = store.ids_created_between(start, upper, offset=offset, limit=SCAN_BATCH)
        offset += len(ids)
        # A payment accepted meanwhile shifts the window by one: skip what was already read.
        for payment in store.get_many([i for i in ids if i not in seen]):
            seen.add(payment.id)
            if device_id is not None and payment.device_id != device_id:
                continue
            if payment.status is PaymentStatus.REFUSED:
                # DIGIT refused it while the device waited: no money changed hands
                continue
            first = 0
            if after is not None and _ms(payment.created_at) == after[0]:
                # Equal scores come in descending id order (store.payments).
                if payment.id > after[1]:
                    continue
                if payment.id == after[1]:
                    first = after[2] + 1
            for index in range(first, len(payment.bills)):
                yield _row(payment, index, tz)
        if len(ids) < SCAN_BATCH:
            return


def settlement_rows(
    store: PaymentsByDay,
    day: date,
    tz: ZoneInfo,
    device_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> SettlementPage:
    """One page of `day`'s rows (all devices when `device_id` is None). InvalidCursor for a
    cursor this report did not produce; `limit` is 1..MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")
    rows: list[SettlementRow] = []
    for row in _scan(store, day, tz, device_id, cursor):
        if len(rows) == limit:
            return SettlementPage(rows=tuple(rows), next_cursor=rows[-1].cursor)
        rows.append(row)
    return SettlementPage(rows=tuple(rows), next_cursor=None)


def iter_settlement_rows(
    store: PaymentsByDay, day: date, tz: ZoneInfo, device_id: str | None = None
) -> Iterator[SettlementRow]:
    """Every row of `day` (the CSV download streams these)."""
    return _scan(store, day, tz, device_id, None)


CSV_COLUMNS: tuple[str, ...] = (
    "paymentId",
    "deviceId",
    "idempotencyKey",
    "tenantId",
    "billId",
    "billNumber",
    "consumerCode",
    "businessService",
    "amount",
    "paymentMode",
    "status",
    "receiptNumber",
    "collectedAt",
    "acceptedAt",
    "registeredAt",
    "resolution",
    "entry",
    "reversedAt",
    # appended later, so the columns before keep their places: as the JSON rows' fields
    "offline",
    "uploadedAt",
)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, never 1E+3
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def csv_record(row: SettlementRow) -> list[str]:
    """`row` as CSV cells in CSV_COLUMNS order."""
    values = (
        row.payment_id,
        row.device_id,
        row.idempotency_key,
        row.tenant_id,
        row.bill_id,
        row.bill_number,
        row.consumer_code,
        row.business_service,
        row.amount,
        row.payment_mode,
        row.status,
        row.receipt_number,
        row.collected_at,
        row.accepted_at,
        row.registered_at,
        row.resolution,
        row.entry,
        row.reversed_at,
        row.offline,
        row.uploaded_at,
    )
    return [_text(v) for v in values]


class OfflineMarks(Protocol):
    """Which payments reached us from an offline device (store.offline.OfflineStore)."""

    def marks(self, payment_ids: Sequence[str]) -> Mapping[str, OfflineMark]: ...


def with_offline_marks(
    rows: Iterable[SettlementRow], offline: OfflineMarks, *, batch: int = SCAN_BATCH
) -> Iterator[SettlementRow]:
    """`rows` with `offline` and `uploaded_at` set for payments collected offline (one look-up
    per `batch` rows), as the JSON report marks them."""
    pending: list[SettlementRow] = []

    def marked() -> Iterator[SettlementRow]:
        found = offline.marks(sorted({r.payment_id for r in pending}))
        for row in pending:
            mark = found.get(row.payment_id)
            yield row if mark is None else replace(row, offline=True, uploaded_at=mark.uploaded_at)
        pending.clear()

    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            yield from marked()
    yield from marked()
