"""The collector's cash: what a device holds per city and payment mode, its limits, the cap on
cash in hand, and the cashier's hand-over.

    cash in hand = the payments the device collected (per city and mode) that no hand-over has
                   settled and that were not reversed

A hand-over settles every payment the device holds of that mode in that city (the ledger records
which: cash_handover_payments); what the cashier counted differently is a shortfall or excess
with a reason, shown on the day it happened (never silently carried as cash still held). A
hand-over reads what the device holds and records what it settles in one transaction holding a
lock on (device, mode), so two hand-overs of the same cash (a form sent twice, two cashiers) are
one after the other: the second finds nothing left and is refused NOTHING_TO_HAND_OVER; a payment
is settled once (the ledger's primary key). A hand-over never calls DIGIT (REMIT would re-open
the dues).

A reversal (a cancellation, a dishonoured cheque or DD, a refund) takes the money from whoever
holds it then:
- a payment not yet handed over: from the collector. Cash in hand falls by it, and the day shows
  it as cancelled.
- a payment handed over already: from the cashier. Cash in hand does not move (the collector
  gave that money away already), and the day of the reversal shows it as cancelled and as
  cancelled after hand-over, naming the payment and the hand-over it went with, for the cashier
  to give it back or to take the bounced cheque out of the drawer's total.
So cash in hand is never negative, a hand-over after a reversal expects only what the collector
still holds, and the settlement report's REVERSAL rows of a day add up to that day's cancelled
CANCELLED and DISHONOURED payments, whoever held the money.

    CashRefused             an operation refused; `code` says why:
        CASH_IN_HAND_CAP_REACHED   a CASH payment would take the device over its cap
        REASON_REQUIRED            a counted amount differs from the ledger's and no reason given
        NOTHING_TO_HAND_OVER       the device holds nothing of that mode in that city (a
                                   hand-over recorded already, or payments not uploaded yet)
        CITY_REQUIRED              the device holds that mode in several cities: name one
        DEVICE_NOT_FOUND           no such device
        INVALID_AMOUNT             a counted amount or a limit is not a number, below 0, not
                                   whole paise, or not below MAX_CASH_AMOUNT (cash_amount_problem)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from integrator.payments.cash_records import (
    Handover,
    HandoverEntry,
    HeldPayment,
    Holding,
    LimitOverrides,
    Scope,
)
from integrator.payments.devices import Device
from integrator.payments.models import PaymentError, PaymentRejected, Violation
from integrator.payments.use_cases import PaymentRequest

CASH = "CASH"
#: No device holds, and no limit needs, anywhere near a billion rupees (the PoS API's bound on an
#: amount, api.schemas.fields.MAX_AMOUNT, is the same).
MAX_CASH_AMOUNT = Decimal(10) ** 9
_PAISE = Decimal("0.01")
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


def cash_amount_problem(amount: Decimal) -> str | None:
    """Why `amount` cannot be counted cash or a device's limit, or None when it can: a finite
    amount of 0 or more, in whole paise, below MAX_CASH_AMOUNT. (Decimal takes "NaN", "Infinity"
    and "1e30" as numbers; comparing a NaN raises.)"""
    if not amount.is_finite():
        return "is not a number"
    if amount < 0:
        return "is below 0"
    if amount >= MAX_CASH_AMOUNT:
        return f"is not below {MAX_CASH_AMOUNT}"
    if amount != amount.quantize(_PAISE):
        return "is not a whole number of paise"
    return None


class CashLedger(Protocol):
    """Cash in hand and hand-overs in the ledger (integrator.store.cash.CashStore)."""

    def in_hand(self, scope: Scope, scope_id: str, until: datetime) -> list[Holding]: ...

    def settle(
        self,
        device_id: str,
        modes: Sequence[str],
        plan: Callable[[list[HeldPayment]], Sequence[HandoverEntry]],
    ) -> list[Handover]:
        """Record what `plan` makes of the payments the device holds of `modes`, read and
        written while no other hand-over of the same device and mode runs."""
        ...


class DeviceLimitOverrides(Protocol):
    """Each device's own limits (integrator.store.offline.OfflineStore)."""

    def all_limits(self) -> dict[str, LimitOverrides]: ...

    def limits_for(self, device_id: str) -> LimitOverrides: ...

    def set_limits(self, device_id: str, limits: LimitOverrides, *, now: datetime) -> None: ...


#: How long a process remembers the devices' own limits (see CashBook._overrides_of).
LIMITS_CACHE_SECONDS = 5.0
_NO_OVERRIDES = LimitOverrides()
_LIMIT_FIELDS = tuple(f.name for f in fields(LimitOverrides))


def _set_fields(overrides: LimitOverrides) -> list[str]:
    return [name for name in _LIMIT_FIELDS if getattr(overrides, name) is not None]


@dataclass(frozen=True, kw_only=True)
class LimitDefaults:
    """The limits of a device without its own (OFFLINE_MAX_AGE_SECONDS, OFFLINE_CASH_LIMIT,
    CASH_IN_HAND_CAP; a cap of 0 means no cap)."""

    offline_max_age_seconds: int
    offline_cash_limit: Decimal
    cash_in_hand_cap: Decimal


class CashRefused(PaymentError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, kw_only=True)
class DeviceLimits:
    """What a device may do offline and hold, as it is told (GET /v1/devices/me/limits)."""

    offline_max_age_seconds: int
    offline_cash_limit: Decimal
    cash_in_hand_cap: Decimal | None  # None: no cap


class CashBook:
    def __init__(
        self,
        *,
        defaults: LimitDefaults,
        store: CashLedger,
        offline: DeviceLimitOverrides,
        devices: Callable[[str], Device | None],
        accepted: Callable[[str, str], object | None],
        clock: Callable[[], datetime],
    ) -> None:
        self._defaults = defaults
        self._store = store
        self._offline = offline
        self._devices = devices
        self._accepted = accepted  # (device id, key) -> the payment made under it, if any
        self._clock = clock
        self._overrides: dict[str, LimitOverrides] = {}
        self._overrides_until = 0.0  # monotonic; 0: read them at the next payment
        self._overrides_lock = threading.Lock()

    # --- limits ---

    def _overrides_of(self, device_id: str) -> LimitOverrides:
        """The device's own limits. Every device's are read in one query and remembered for
        LIMITS_CACHE_SECONDS: they are needed for every CASH payment, change only when an
        operator sets them, and are few (one row per device with limits of its own), so a
        process reads them once per period rather than once per device per period (a change
        made in another process applies within that time; one made here at once)."""
        now = time.monotonic()
        if now >= self._overrides_until:
            with self._overrides_lock:  # one reader; the others wait for its table
                if now >= self._overrides_until:
                    self._overrides = self._offline.all_limits()
                    self._overrides_until = time.monotonic() + LIMITS_CACHE_SECONDS
        return self._overrides.get(device_id, _NO_OVERRIDES)

    def limits(self, device: Device) -> DeviceLimits:
        own = self._overrides_of(device.id)
        cap = (
            own.cash_in_hand_cap
            if own.cash_in_hand_cap is not None
            else self._defaults.cash_in_hand_cap
        )
        return DeviceLimits(
            offline_max_age_seconds=own.offline_max_age_seconds
            or self._defaults.offline_max_age_seconds,
            offline_cash_limit=own.offline_cash_limit
            if own.offline_cash_limit is not None
            else self._defaults.offline_cash_limit,
            cash_in_hand_cap=cap if cap > 0 else None,
        )

    def set_limits(
        self, device_name: str, overrides: LimitOverrides, *, reset: Collection[str] = ()
    ) -> Device:
        """Change only the device's limits `overrides` names (its other own limits stay as they
        are); `reset` names fields of LimitOverrides that go back to the setting."""
        unknown = set(reset) - set(_LIMIT_FIELDS)
        if unknown:
            raise ValueError(f"no such limit: {', '.join(sorted(unknown))}")
        if set(reset) & set(_set_fields(overrides)):
            raise ValueError("a limit is either set or reset, not both")
        for name, amount in (
            ("offlineCashLimit", overrides.offline_cash_limit),
            ("cashInHandCap", overrides.cash_in_hand_cap),
        ):
            problem = None if amount is None else cash_amount_problem(amount)
            if problem is not None:
                raise CashRefused("INVALID_AMOUNT", f"{name}: {amount} {problem}")
        device = self._device_named(device_name)
        current = self._offline.limits_for(device.id)  # read now, not the remembered table
        merged = replace(
            current,
            **{name: getattr(overrides, name) for name in _set_fields(overrides)},
            **{name: None for name in reset},
        )
        self._offline.set_limits(device.id, merged, now=self._clock())
        self._overrides_until = 0.0
        return device

    # --- cash in hand ---

    def in_hand(self, device_id: str, *, until: datetime | None = None) -> list[Holding]:
        """Per city and mode, what the device holds (at `until`, default now)."""
        held = self._store.in_hand(Scope.DEVICE, device_id, until or _FAR)
        return [h for h in held if h.amount != 0]

    def in_hand_by_mode(self, device_id: str) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for holding in self.in_hand(device_id):
            totals[holding.payment_mode] = (
                totals.get(holding.payment_mode, Decimal(0)) + holding.amount
            )
        return totals

    def require_room(
        self, device: Device, request: PaymentRequest, idempotency_key: str | None
    ) -> None:
        """Refuse a CASH payment that would take the device over its cap on cash in hand; a
        repeat of a payment already accepted under `idempotency_key` is never refused. With no
        key (POST /v1/payments/validate) the payment is judged as a new one."""
        if request.payment_mode.upper() != CASH:
            return
        cap = self.limits(device).cash_in_hand_cap
        if cap is None:
            return
        held = self.in_hand_by_mode(device.id).get(CASH, Decimal(0))
        if held + request.total_amount > cap and (
            idempotency_key is None or self._accepted(device.id, idempotency_key) is None
        ):
            raise PaymentRejected(
                [
                    Violation(
                        code="CASH_IN_HAND_CAP_REACHED",
                        field="paymentMode",
                        message=f"this device holds {held} in cash; with {request.total_amount}"
                        f" more it would exceed its cap of {cap}: hand the cash over to a"
                        " cashier first",
                    )
                ]
            )

    # --- hand-over ---

    def handover(
        self,
        *,
        device_name: str,
        counted: Mapping[str, Decimal],
        cashier: str,
        tenant_id: str | None = None,
        reason: str | None = None,
    ) -> list[Handover]:
        """Record that `device_name` handed over `counted` (per mode), counted by `cashier`.

        Each mode settles what the ledger says the device holds of it (in `tenant_id`, or the one
        city it holds that mode in). A difference needs `reason`. All modes or none are checked
        before anything is written, in one transaction that no other hand-over of the device's
        modes runs beside: a second hand-over of the same cash (a form sent twice) finds nothing
        left and is refused NOTHING_TO_HAND_OVER, whatever its reason."""
        device = self._device_named(device_name)
        wanted: dict[str, Decimal] = {}
        for mode, amount in counted.items():
            problem = cash_amount_problem(amount)
            if problem is not None:
                raise CashRefused(
                    "INVALID_AMOUNT",
                    f"{mode.upper()}: counted {amount} {problem}: write the amount in rupees,"
                    " e.g. 1200 or 1199.50",
                )
            wanted[mode.upper()] = amount
        why = (reason or "").strip() or None

        def plan(held_payments: list[HeldPayment]) -> list[HandoverEntry]:
            held: dict[tuple[str, str], list[HeldPayment]] = {}
            for payment in held_payments:
                held.setdefault((payment.tenant_id, payment.payment_mode), []).append(payment)
            now = self._clock()  # inside the lock: hand-overs of a mode are recorded in order
            entries: list[HandoverEntry] = []
            for mode, amount in sorted(wanted.items()):
                cities = sorted(
                    t for (t, m) in held if m == mode and (tenant_id is None or t == tenant_id)
                )
                if not cities:
                    if amount == 0:
                        continue
                    where = f" in {tenant_id}" if tenant_id else ""
                    raise CashRefused(
                        "NOTHING_TO_HAND_OVER",
                        f"{device.name} holds no {mode}{where}: nothing to hand over (recorded"
                        " already? see the day's hand-overs; money of payments the device has"
                        " not uploaded yet is handed over after the upload)",
                    )
                if len(cities) > 1:
                    raise CashRefused(
                        "CITY_REQUIRED",
                        f"{device.name} holds {mode} in {', '.join(cities)}: name the city",
                    )
                payments = held[(cities[0], mode)]
                expected = sum((p.amount for p in payments), Decimal(0))
                if amount != expected and why is None:
                    kind = "short" if amount < expected else "over"
                    raise CashRefused(
                        "REASON_REQUIRED",
                        f"{mode}: counted {amount}, the ledger expects {expected}"
                        f" ({kind} by {abs(amount - expected)}): give the reason",
                    )
                entries.append(
                    HandoverEntry(
                        tenant_id=cities[0],
                        payment_mode=mode,
                        expected=expected,
                        counted=amount,
                        reason=why,
                        cashier=cashier,
                        at=now,
                        payment_ids=tuple(p.payment_id for p in payments),
                    )
                )
            if not entries:
                raise CashRefused(
                    "NOTHING_TO_HAND_OVER", f"{device.name} holds nothing to hand over"
                )
            return entries

        return self._store.settle(device.id, sorted(wanted), plan)

    def _device_named(self, name: str) -> Device:
        device = self._devices(name)
        if device is None:
            raise CashRefused("DEVICE_NOT_FOUND", f"no device {name}")
        return device
