"""jsonutil: money parsed as Decimal, dumped as the same digits, whichever encoder writes it."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import simplejson

from integrator import jsonutil

SIMPLEJSON = simplejson.JSONEncoder(
    use_decimal=True,
    default=jsonutil._default,
    ensure_ascii=False,
    allow_nan=False,
    separators=(",", ":"),
)


class Mode(enum.StrEnum):
    CASH = "CASH"


IST = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    "value",
    [
        {"amount": Decimal("815.00"), "whole": Decimal("1500"), "tiny": Decimal("0.01")},
        [Decimal("-0.00"), Decimal("1E+2"), Decimal("12345678901234567890.123456789")],
        {
            "at": datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
            "day": date(2026, 11, 22),
            "ist": datetime(2026, 3, 31, 23, 59, 59, 999000, tzinfo=IST),
        },
        {"mode": Mode.CASH, "n": 3, "ok": True, "none": None, "pair": (1, 2), "text": "café ₹"},
        {1: "int key", None: "null key"},
        {"big": 2**70},
        "\ud800",  # a lone surrogate: orjson refuses, simplejson writes it
    ],
)
def test_compact_dumps_are_exactly_simplejsons(value: Any) -> None:
    assert jsonutil.dumps(value) == SIMPLEJSON.encode(value)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_a_decimal_that_is_not_a_number_is_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        jsonutil.dumps({"amount": bad})


@pytest.mark.parametrize("bad", [{1, 2}, object(), timedelta(seconds=1)])
def test_what_json_cannot_hold_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError):
        jsonutil.dumps({"x": bad})


def test_numbers_round_trip_as_the_same_decimals() -> None:
    text = '{"a":815.10,"b":1500,"c":[0.01,-2.50]}'
    parsed = jsonutil.loads(text.encode())
    assert parsed == {
        "a": Decimal("815.10"),
        "b": Decimal("1500"),
        "c": [Decimal("0.01"), Decimal("-2.50")],
    }
    assert all(isinstance(v, Decimal) for v in (parsed["a"], parsed["b"], *parsed["c"]))
    assert jsonutil.dumps(parsed) == text


@pytest.mark.parametrize("raw", ["NaN", "[Infinity]", '{"a":-Infinity}'])
def test_loads_refuses_nan_and_infinity(raw: str) -> None:
    with pytest.raises(jsonutil.JSONNumberError):
        jsonutil.loads(raw)


def test_the_readable_form_is_simplejsons() -> None:
    readable = jsonutil.dumps({"a": Decimal("1.50"), "b": [1]}, compact=False)
    assert readable == '{"a": 1.50, "b": [1]}'
