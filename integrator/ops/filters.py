"""The payment list's filter form: its fields, how they become a `PaymentFilter`, and the pages.

One time zone for the console (DIGIT_TIMEZONE): the date fields are calendar days there, and every
time on a page is shown there with its name (`tz_label`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from integrator.payments.days import FIRST_DAY, LAST_DAY, day_in_range
from integrator.payments.models import PaymentMode, PaymentStatus
from integrator.payments.payment_filter import PaymentFilter, last4

#: The form's text fields, in order (name -> label).
TEXT_FIELDS: Mapping[str, str] = {
    "id": "Payment id",
    "key": "Idempotency key",
    "bill": "Bill id",
    "consumer": "Consumer code",
    "receipt": "Receipt number",
    "mobile": "Mobile (last digits)",
    "tenant": "City (tenant)",
    "service": "Business service",
    "device": "Device name",
}
#: Every field the list reads (kept in links to other pages of the same list, and in exports).
ALL_FIELDS: tuple[str, ...] = (*TEXT_FIELDS, "status", "reason", "mode", "from", "to")
PAYMENT_MODES: tuple[str, ...] = tuple(m.value for m in PaymentMode)
PAGE_SIZE = 50
#: The last page a list goes to (console and CLI). The page's offset, (page - 1) x size, is a
#: PostgreSQL bigint: page 999999999999999999 overflowed it (a 500). A million pages is 50 million
#: payments at the console's size, more than a ledger holds, and at the CLI's largest size (1000)
#: still far inside a bigint.
MAX_PAGE = 1_000_000
_PAGE = re.compile(rf"[0-9]{{1,{len(str(MAX_PAGE))}}}")  # ASCII only: int() refuses "²"
MAX_REFRESH = 86_400
_REFRESH = re.compile(r"[0-9]{1,5}")
#: Auto-refresh intervals the list offers (seconds); any whole number >= MIN_REFRESH is accepted.
REFRESH_CHOICES: tuple[int, ...] = (10, 30, 60)
MIN_REFRESH = 2


class BadFilter(ValueError):
    pass


def tz_label(tz: tzinfo, setting: str = "DIGIT_TIMEZONE") -> str:
    """`Asia/Kolkata (DIGIT_TIMEZONE)`: the zone's name and the setting that chose it."""
    return f"{tz} ({setting})"


def local(moment: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if moment is None else moment.astimezone(tz).strftime(fmt)


def filter_from(args: Mapping[str, str], tz: tzinfo) -> PaymentFilter:
    """A PaymentFilter from the form (empty fields are ignored); BadFilter names the field."""

    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    def day(name: str) -> date | None:
        value = text(name)
        if value is None:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise BadFilter(f"{name}: a date as YYYY-MM-DD, got {value!r}") from None
        if not day_in_range(day):  # 9999-12-31's end is no datetime
            raise BadFilter(f"{name}: a day from {FIRST_DAY} to {LAST_DAY}, got {value!r}")
        return day

    status_text = text("status")
    try:
        status = PaymentStatus(status_text.upper()) if status_text else None
    except ValueError:
        raise BadFilter(f"status: one of {', '.join(PaymentStatus)}") from None
    mobile = text("mobile")
    if mobile is not None and len([c for c in mobile if c.isdigit()]) < 4:
        raise BadFilter("mobile: give at least the last 4 digits")
    mode = text("mode")
    if mode is not None and mode.upper() not in PAYMENT_MODES:
        raise BadFilter(f"mode: one of {', '.join(PAYMENT_MODES)}")
    first, last = day("from"), day("to")
    if first and last and first > last:
        raise BadFilter("from: the first day comes after the last (to)")
    return PaymentFilter.from_days(
        first=first,
        last=last,
        tz=tz,
        payment_id=text("id"),
        idempotency_key=text("key"),
        bill_id=text("bill"),
        consumer_code=text("consumer"),
        receipt_number=text("receipt"),
        mobile_last4=last4(mobile),
        status=status,
        reason=(text("reason") or "").upper() or None,
        tenant_id=text("tenant"),
        business_service=(text("service") or "").upper() or None,
        device_name=text("device"),
        payment_mode=mode.upper() if mode else None,
    )


def kept_args(args: Mapping[str, str]) -> dict[str, str]:
    """The filter's non-empty fields (for links to other pages and the export)."""
    return {k: str(args[k]).strip() for k in ALL_FIELDS if (args.get(k) or "").strip()}


@dataclass(frozen=True, kw_only=True)
class Paging:
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def newer(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def older(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.size)


def page_number(args: Mapping[str, str]) -> int:
    raw = (args.get("page") or "1").strip()
    if _PAGE.fullmatch(raw) is None or not 1 <= int(raw) <= MAX_PAGE:
        raise BadFilter(f"page: a whole number from 1 to {MAX_PAGE}, got {raw[:40]!r}")
    return int(raw)


def refresh_seconds(args: Mapping[str, str]) -> int | None:
    raw = (args.get("refresh") or "").strip()
    if not raw or raw == "0":
        return None
    if _REFRESH.fullmatch(raw) is None:
        raise BadFilter(f"refresh: whole seconds (up to a day), got {raw[:40]!r}")
    return min(max(MIN_REFRESH, int(raw)), MAX_REFRESH)


def template_values(tz: tzinfo) -> dict[str, Any]:
    return {"text_fields": TEXT_FIELDS, "payment_modes": PAYMENT_MODES, "tz_label": tz_label(tz)}
