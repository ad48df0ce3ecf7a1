"""Pure parts of the sandbox: the ws-calculator slab walk, the minimum floor and the round-off."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrator.sandbox.calculator import (
    RESIDENTIAL_METERED,
    metered_water_charge,
    round_off,
    slab_walk,
    with_round_off,
)
from integrator.sandbox.collection import NAME_PATTERN, financial_year
from integrator.sandbox.mdms import apply_filter

D = Decimal


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (5, D(10)),  # 5 < 10: 5 x 2
        (10, D(25)),  # units == to falls through to the next band: 10 x 2.5
        (12, D(20) + D(5)),  # 10 x 2, then 2 < 20: 2 x 2.5
        (25, D(20) + D("37.5")),  # 10 x 2, then 15 < 20: 15 x 2.5
        (37, D(20) + D(25) + D(136)),  # remaining units compared with absolute `to`
        (40, D(20) + D(25) + D(160)),
    ],
)
def test_slab_walk_follows_ws_calculator_including_the_equal_to_quirk(
    units: int, expected: Decimal
) -> None:
    assert slab_walk(D(units), RESIDENTIAL_METERED.slabs) == expected


def test_metered_charge_is_floored_at_minimum_charge_and_rounded_to_two_places() -> None:
    assert metered_water_charge(D(5)) == D("100.00")
    assert metered_water_charge(D(37)) == D("181.00")
    assert metered_water_charge(D("37.333")) == D("183.66")


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (D("185.53"), D("0.47")),
        (D("100.49"), D("-0.49")),
        (D("100.50"), D("0.50")),
        (D("100"), D(0)),
        (D("-3.25"), D("0.25")),  # net credit totals round the same way
    ],
)
def test_round_off_makes_the_total_whole_within_half_a_rupee(
    total: Decimal, expected: Decimal
) -> None:
    assert round_off(total) == expected
    assert D("-0.5") < expected <= D("0.5")
    assert (total + expected) % 1 == 0


def test_round_off_subtracts_existing_round_off_lines() -> None:
    assert round_off(D("185.53"), [D("0.40")]) == D("0.07")


def test_with_round_off_adds_the_head_only_when_needed() -> None:
    assert with_round_off({"WS_CHARGE": D(100)}, "WS_Round_Off") == {"WS_CHARGE": D(100)}
    lines = with_round_off({"WS_CHARGE": D("181"), "WS_WATER_CESS": D("4.53")}, "WS_Round_Off")
    assert lines["WS_Round_Off"] == D("0.47")
    assert sum(lines.values()) == D(186)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Ramesh Kumar", True),
        ("O'Neil", True),
        ("A.B", True),
        ("Ramesh2", False),
        ("", False),
        (" Ramesh", False),
        ("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", False),
    ],
)
def test_payer_name_pattern_matches_digit_regex(name: str, ok: bool) -> None:
    assert bool(NAME_PATTERN.match(name)) is ok


def test_mdms_filter_selects_by_code() -> None:
    records = [{"code": "WS"}, {"code": "SW"}]
    assert apply_filter(records, "[?(@.code=='WS')]") == [{"code": "WS"}]
    assert apply_filter(records, '[?(@.code=="SW" || @.code=="WS")]') == records


def test_financial_year_starts_in_april() -> None:
    from datetime import datetime

    assert financial_year(datetime(2026, 11, 3)) == "2026-27"
    assert financial_year(datetime(2027, 3, 31)) == "2026-27"
