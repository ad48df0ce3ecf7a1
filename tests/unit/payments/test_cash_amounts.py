"""What a cashier may count and an operator may set as a device's limit: a finite amount of 0 or
more, in whole paise, below a billion rupees. Anything else is refused INVALID_AMOUNT naming the
mode or the limit, before the ledger is read (Decimal takes "NaN", "Infinity" and "1e30" as
numbers, and comparing a NaN raises)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from integrator.payments.cash import CashBook, CashRefused, LimitDefaults, cash_amount_problem
from integrator.payments.cash_records import LimitOverrides
from integrator.payments.devices import Device

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEVICE = Device(id="d-1", name="field-1", tenants=("pb.amritsar",), key_hash="h", created_at=NOW)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0", None),
        ("815", None),
        ("1199.50", None),
        ("999999999.99", None),
        ("-0", None),
        ("NaN", "is not a number"),
        ("sNaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("-Infinity", "is not a number"),
        ("-1", "is below 0"),
        ("1e9", "is not below 1000000000"),
        ("1e30", "is not below 1000000000"),
        ("12.345", "is not a whole number of paise"),
    ],
)
def test_a_cash_amount_is_finite_not_negative_whole_paise_and_below_a_billion(
    text: str, problem: str | None
) -> None:
    assert cash_amount_problem(Decimal(text)) == problem


def book() -> CashBook:
    untouched: Any = None  # a refused amount never reaches the ledger
    return CashBook(
        defaults=LimitDefaults(
            offline_max_age_seconds=3600,
            offline_cash_limit=Decimal(5000),
            cash_in_hand_cap=Decimal(0),
        ),
        store=untouched,
        offline=untouched,
        devices=lambda name: DEVICE if name == DEVICE.name else None,
        accepted=lambda device_id, key: None,
        clock=lambda: NOW,
    )


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e30", "-5"])
def test_a_hand_over_of_no_amount_is_refused_naming_the_mode(text: str) -> None:
    with pytest.raises(CashRefused) as refused:
        book().handover(device_name="field-1", counted={"cash": Decimal(text)}, cashier="carol")
    assert refused.value.code == "INVALID_AMOUNT"
    assert refused.value.message.startswith(f"CASH: counted {Decimal(text)} ")


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        (LimitOverrides(cash_in_hand_cap=Decimal("NaN")), "cashInHandCap"),
        (LimitOverrides(offline_cash_limit=Decimal("Infinity")), "offlineCashLimit"),
        (LimitOverrides(cash_in_hand_cap=Decimal("1e30")), "cashInHandCap"),
    ],
)
def test_a_limit_of_no_amount_is_refused_naming_the_limit(
    limits: LimitOverrides, named: str
) -> None:
    with pytest.raises(CashRefused) as refused:
        book().set_limits("field-1", limits)
    assert refused.value.code == "INVALID_AMOUNT"
    assert refused.value.message.startswith(f"{named}: ")
