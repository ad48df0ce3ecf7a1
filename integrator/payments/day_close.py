"""The collector's day, per device or per city: collected, cancelled, handed over and outstanding,
by city and payment mode; closing a day stores its figures once.

`cancelled` is every reversal of the day (the settlement report's REVERSAL rows, and refunds);
`cancelledAfterHandover` is the part of it whose money a hand-over had settled already: it does
not lower what the collector holds (`outstanding`), it is the cashier's to give back, and
`reversalsAfterHandover` names those payments and the hand-overs they went with. So
`outstanding` = the day before's + collected - (cancelled - cancelledAfterHandover) - settled.

A day is the calendar day in SETTLEMENT_TIMEZONE. Figures come from the ledger by server time
(store.cash), so a correction made later (a cancellation, a refund, a hand-over) counts on the day
it is made, never on a closed day. A day can be closed only once it has ended, and only once per
device or city (the ledger's primary key refuses a second close); a closed day is reported from
its stored figures.

    DayCloseRefused     code: DAY_NOT_OVER, DAY_ALREADY_CLOSED, DEVICE_NOT_FOUND
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from integrator.payments.cash_records import (
    DayAlreadyClosed,
    Handover,
    Holding,
    ModeSums,
    ReversedAfterHandover,
    Scope,
)
from integrator.payments.days import check_day, next_day_start
from integrator.payments.devices import Device
from integrator.payments.models import PaymentError

CSV_COLUMNS = (
    "scope",
    "scopeId",
    "date",
    "tenantId",
    "paymentMode",
    "collected",
    "collectedCount",
    "cancelled",
    "cancelledCount",
    "settled",
    "handedOver",
    "difference",
    "outstanding",
    "cancelledAfterHandover",
    "cancelledAfterHandoverCount",
    "closed",
)


class DayLedger(Protocol):
    """A scope's cash figures and closed days in the ledger (integrator.store.cash.CashStore);
    `close_day` raises DayAlreadyClosed for a day closed already."""

    def sums(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[ModeSums]: ...

    def handovers(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[Handover]: ...

    def in_hand(self, scope: Scope, scope_id: str, until: datetime) -> list[Holding]: ...

    def reversed_after_handover(
        self, scope: Scope, scope_id: str, start: datetime, end: datetime
    ) -> list[ReversedAfterHandover]: ...

    def close_day(
        self,
        scope: Scope,
        scope_id: str,
        day: date,
        *,
        figures: Mapping[str, Any],
        closed_by: str,
        at: datetime,
    ) -> None: ...

    def closed_day(
        self, scope: Scope, scope_id: str, day: date
    ) -> tuple[datetime, str, dict[str, Any]] | None: ...


class DayCloseRefused(PaymentError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, kw_only=True)
class DayReport:
    """A day's figures (`figures` is what is stored when the day is closed)."""

    figures: dict[str, Any]
    closed_at: datetime | None = None
    closed_by: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


class DayClose:
    def __init__(
        self,
        *,
        store: DayLedger,
        devices: Callable[[str], Device | None],
        timezone: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._devices = devices
        self._tz = timezone
        self._clock = clock

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(check_day(day), time(0), self._tz)
        end = next_day_start(day, self._tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def scope_id(self, scope: Scope, name: str) -> str:
        """A device's id from its name (the ops side knows devices by name); a city as given."""
        if scope is Scope.CITY:
            return name
        device = self._devices(name)
        if device is None:
            raise DayCloseRefused("DEVICE_NOT_FOUND", f"no device {name}")
        return device.id

    def figures(self, scope: Scope, scope_id: str, day: date) -> dict[str, Any]:
        """The day's figures as the ledger has them now."""
        start, end = self._bounds(day)
        today = self._store.sums(scope, scope_id, start, end)
        outstanding = {
            (h.tenant_id, h.payment_mode): h.amount
            for h in self._store.in_hand(scope, scope_id, end)
        }
        rows: list[dict[str, Any]] = []
        keys = sorted(
            {(s.tenant_id, s.payment_mode) for s in today}
            | {k for k, amount in outstanding.items() if amount != 0}
        )
        by_key = {(s.tenant_id, s.payment_mode): s for s in today}
        for key in keys:
            s = by_key.get(key, ModeSums(tenant_id=key[0], payment_mode=key[1]))
            rows.append(
                {
                    "tenantId": key[0],
                    "paymentMode": key[1],
                    "collected": s.collected,
                    "collectedCount": s.collected_count,
                    "cancelled": s.cancelled,
                    "cancelledCount": s.cancelled_count,
                    "settled": s.settled,
                    "handedOver": s.handed_over,
                    "difference": s.difference,
                    "outstanding": outstanding.get(key, Decimal(0)),
                    "cancelledAfterHandover": s.cancelled_after_handover,
                    "cancelledAfterHandoverCount": s.cancelled_after_handover_count,
                }
            )
        totals = {
            name: sum((r[name] for r in rows), Decimal(0))
            for name in (
                "collected",
                "cancelled",
                "cancelledAfterHandover",
                "settled",
                "handedOver",
                "difference",
                "outstanding",
            )
        }
        handovers = [
            {
                "id": h.id,
                "deviceId": h.device_id,
                "tenantId": h.tenant_id,
                "paymentMode": h.payment_mode,
                "expected": h.expected,
                "counted": h.counted,
                "difference": h.difference,
                "reason": h.reason,
                "cashier": h.cashier,
                "at": h.at.isoformat(),
            }
            for h in self._store.handovers(scope, scope_id, start, end)
        ]
        reversals = [
            {
                "paymentId": r.payment_id,
                "tenantId": r.tenant_id,
                "paymentMode": r.payment_mode,
                "amount": r.amount,
                "reversal": r.reversal,
                "reversedAt": r.reversed_at.isoformat(),
                "handoverId": r.handover_id,
            }
            for r in self._store.reversed_after_handover(scope, scope_id, start, end)
        ]
        return {
            "scope": scope.value,
            "scopeId": scope_id,
            "date": day.isoformat(),
            "modes": rows,
            "totals": totals,
            "handovers": handovers,
            "reversalsAfterHandover": reversals,
        }

    def report(self, scope: Scope, scope_id: str, day: date) -> DayReport:
        """A closed day from its stored figures; an open day as the ledger has it now."""
        closed = self._store.closed_day(scope, scope_id, day)
        if closed is not None:
            closed_at, closed_by, figures = closed
            return DayReport(figures=figures, closed_at=closed_at, closed_by=closed_by)
        return DayReport(figures=self.figures(scope, scope_id, day))

    def close(self, scope: Scope, scope_id: str, day: date, *, closed_by: str) -> DayReport:
        now = self._clock()
        if day >= now.astimezone(self._tz).date():
            raise DayCloseRefused(
                "DAY_NOT_OVER", f"{day} has not ended yet in {self._tz.key}: close it tomorrow"
            )
        figures = self.figures(scope, scope_id, day)
        try:
            self._store.close_day(
                scope, scope_id, day, figures=figures, closed_by=closed_by, at=now
            )
        except DayAlreadyClosed as exc:
            raise DayCloseRefused("DAY_ALREADY_CLOSED", str(exc)) from None
        return DayReport(figures=figures, closed_at=now, closed_by=closed_by)


def report_csv(report: DayReport) -> str:
    """One row per city and mode, the day's scope and whether it is closed on each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    figures = report.figures
    for row in figures["modes"]:
        writer.writerow(
            [
                figures["scope"],
                figures["scopeId"],
                figures["date"],
                # a day closed before cancelledAfterHandover was counted stored none: 0
                *(str(row.get(c, 0)) for c in CSV_COLUMNS[3:-1]),
                "true" if report.closed else "false",
            ]
        )
    return out.getvalue()
