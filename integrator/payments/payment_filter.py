"""What the ops console's payment list and `integrator payments list` filter by.

    PaymentFilter.from_days(...)    a filter whose date range is calendar days in one time zone

Every criterion is optional and they all apply together. Dates are whole days in the console's
and CLI's one time zone (DIGIT_TIMEZONE): `created_from` is the first day, `created_to` the last
(inclusive); the store receives the UTC instants [start of the first day, start of the day after
the last).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, tzinfo

from integrator.payments.days import check_day, next_day_start
from integrator.payments.models import PaymentStatus


@dataclass(frozen=True, kw_only=True)
class PaymentFilter:
    """Criteria of a payment list (all optional; all given ones must hold)."""

    payment_id: str | None = None
    idempotency_key: str | None = None
    bill_id: str | None = None
    consumer_code: str | None = None
    receipt_number: str | None = None
    mobile_last4: str | None = None
    status: PaymentStatus | None = None
    reason: str | None = None  # the NEEDS_ATTENTION reason, or the resolution of a RESOLVED one
    tenant_id: str | None = None  # a city (pb.amritsar) or a state (pb: every city of it)
    business_service: str | None = None  # any bill of the payment is of this service
    device_name: str | None = None
    payment_mode: str | None = None
    created_since: datetime | None = None  # inclusive instant
    created_before: datetime | None = None  # exclusive instant

    @classmethod
    def from_days(
        cls, *, first: date | None, last: date | None, tz: tzinfo, **criteria: object
    ) -> PaymentFilter:
        """A filter covering the calendar days [first, last] in `tz`."""
        since = datetime.combine(check_day(first), time(0), tz) if first else None
        before = next_day_start(last, tz) if last else None
        return cls(created_since=since, created_before=before, **criteria)  # type: ignore[arg-type]

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def last4(digits: str | None) -> str | None:
    """The last four digits of what was typed (a full number or its end), or None."""
    only = "".join(ch for ch in (digits or "") if ch.isdigit())
    return only[-4:] if only else None
