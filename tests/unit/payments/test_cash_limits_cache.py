"""A device's own limits are read once per LIMITS_CACHE_SECONDS, and at once after a change."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from integrator.payments.cash import CashBook, LimitDefaults
from integrator.payments.cash_records import LimitOverrides
from integrator.payments.devices import Device

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEVICE = Device(id="d-1", name="counter-1", tenants=("pb.amritsar",), key_hash="h", created_at=NOW)


class Overrides:
    def __init__(self) -> None:
        self.reads = 0
        self.limits = LimitOverrides(cash_in_hand_cap=Decimal(900))

    def all_limits(self) -> dict[str, LimitOverrides]:
        self.reads += 1
        return {DEVICE.id: self.limits}

    def limits_for(self, device_id: str) -> LimitOverrides:
        return self.limits if device_id == DEVICE.id else LimitOverrides()

    def set_limits(self, device_id: str, limits: LimitOverrides, *, now: datetime) -> None:
        self.limits = limits


def book(overrides: Overrides) -> CashBook:
    defaults = LimitDefaults(
        offline_max_age_seconds=3600, offline_cash_limit=Decimal(5000), cash_in_hand_cap=Decimal(0)
    )
    store: Any = None
    return CashBook(
        defaults=defaults,
        store=store,
        offline=overrides,
        devices=lambda name: DEVICE if name == DEVICE.name else None,
        accepted=lambda device_id, key: None,
        clock=lambda: NOW,
    )


def test_the_limits_are_read_once_while_remembered() -> None:
    overrides = Overrides()
    cash = book(overrides)
    for _ in range(5):
        assert cash.limits(DEVICE).cash_in_hand_cap == Decimal(900)
    assert overrides.reads == 1


def test_every_devices_limits_come_from_one_read() -> None:
    overrides = Overrides()
    cash = book(overrides)
    other = Device(id="d-2", name="counter-2", tenants=("pb",), key_hash="h2", created_at=NOW)
    assert cash.limits(DEVICE).cash_in_hand_cap == Decimal(900)
    assert cash.limits(other).cash_in_hand_cap is None  # no limits of its own: the setting's
    assert overrides.reads == 1


def test_a_change_made_here_applies_at_once() -> None:
    overrides = Overrides()
    cash = book(overrides)
    assert cash.limits(DEVICE).cash_in_hand_cap == Decimal(900)

    cash.set_limits(DEVICE.name, LimitOverrides(cash_in_hand_cap=Decimal(2000)))

    assert cash.limits(DEVICE).cash_in_hand_cap == Decimal(2000)
    assert overrides.reads == 2


def test_setting_one_limit_keeps_the_devices_other_limits_and_reset_drops_one() -> None:
    overrides = Overrides()
    overrides.limits = LimitOverrides(
        offline_cash_limit=Decimal(300), cash_in_hand_cap=Decimal(900)
    )
    cash = book(overrides)

    cash.set_limits(DEVICE.name, LimitOverrides(cash_in_hand_cap=Decimal(2000)))

    assert overrides.limits == LimitOverrides(
        offline_cash_limit=Decimal(300), cash_in_hand_cap=Decimal(2000)
    )
    cash.set_limits(DEVICE.name, LimitOverrides(), reset=["offline_cash_limit"])
    assert overrides.limits == LimitOverrides(cash_in_hand_cap=Decimal(2000))
    assert cash.limits(DEVICE).offline_cash_limit == Decimal(5000)  # the setting's
