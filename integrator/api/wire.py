"""How the edge writes times and money: the one place both are put on the wire.

    wire = Wire(ZoneInfo("Asia/Kolkata"))          built once per app (`context.install`)
    wire.timestamp(datetime)  -> "2024-05-01T15:30:00+05:30"   ISO 8601, DIGIT_TIMEZONE's offset
    wire.day(date)            -> "2024-05-01"
    Wire.amount(Decimal)      -> Decimal("815")      whole rupees as integers; paise as 2 decimals

Every answer of the API (bills, payments, validations, receipts, reports) and every problem body
goes through these, so a device never sees `5913.0` beside `815.00`, nor one timestamp in UTC and
the next in IST. Amounts stay `Decimal` (the JSON provider writes them as plain JSON numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

#: DIGIT_TIMEZONE's default (integrator.settings); the zone DIGIT's dates are in.
DEFAULT_TIMEZONE = ZoneInfo("Asia/Kolkata")

_RUPEE = Decimal(1)
_PAISA = Decimal("0.01")
_LARGEST_QUANTIZABLE = 20  # adjusted exponent; past it quantize would overflow the context


@dataclass(frozen=True)
class Wire:
    """Writes times in one zone and amounts on one scale."""

    timezone: tzinfo = DEFAULT_TIMEZONE

    def timestamp(self, value: datetime | None) -> str | None:
        """ISO 8601 with this zone's offset. A naive value is taken as UTC (the store's zone)."""
        zoned = self.zoned(value)
        return None if zoned is None else zoned.isoformat()

    def zoned(self, value: datetime | None) -> datetime | None:
        """The same instant in this zone (for writers that format it themselves, e.g. CSV)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.timezone)

    @staticmethod
    def day(value: date | None) -> str | None:
        return None if value is None else value.isoformat()

    @staticmethod
    def amount(value: Decimal | None) -> Decimal | None:
        """Whole rupees with no decimals (5913.0 -> 5913, 1E+3 -> 1000); otherwise 2 decimals
        when that is exact (100.5 -> 100.50), else the value's own digits (never rounded)."""
        if value is None or not value.is_finite() or value.adjusted() > _LARGEST_QUANTIZABLE:
            return value
        if value == value.to_integral_value():
            return value.quantize(_RUPEE)
        paise = value.quantize(_PAISA)
        return paise if paise == value else value.normalize()
