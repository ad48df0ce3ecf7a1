"""Calendar days as time ranges: every day a report, search or day close may name has an end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from integrator import cli
from integrator.ops.filters import BadFilter, filter_from
from integrator.payments.days import (
    FIRST_DAY,
    LAST_DAY,
    DayOutOfRange,
    day_bounds,
    next_day_start,
)
from integrator.payments.payment_filter import PaymentFilter

ZONES = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]


@pytest.mark.parametrize("tz", ZONES)
def test_the_first_and_last_days_have_bounds_convertible_to_utc(tz: timezone) -> None:
    start, _ = day_bounds(FIRST_DAY, FIRST_DAY, tz)
    _, end = day_bounds(LAST_DAY, LAST_DAY, tz)

    assert start.astimezone(UTC) < end.astimezone(UTC)
    assert end == datetime(9999, 12, 31, tzinfo=tz)


@pytest.mark.parametrize("day", [date.max, date(9999, 12, 31), date.min, date(1999, 12, 31)])
def test_a_day_outside_the_range_is_refused_not_an_overflow(day: date) -> None:
    with pytest.raises(DayOutOfRange):
        day_bounds(day, day, UTC)
    with pytest.raises(DayOutOfRange):
        next_day_start(day, UTC)
    with pytest.raises(DayOutOfRange):
        PaymentFilter.from_days(first=day, last=day, tz=UTC)


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_the_console_search_refuses_a_day_out_of_range_naming_the_field(
    name: str, value: str
) -> None:
    with pytest.raises(BadFilter, match=f"^{name}: a day from 2000-01-01 to 9999-12-30"):
        filter_from({name: value}, UTC)


@pytest.mark.parametrize(
    "args",
    [
        ["reports", "settlement", "--date", "9999-12-31"],
        ["reports", "day-close", "--date", "9999-12-31", "--device", "pos-1"],
        ["reports", "reconcile", "--from", "0001-01-01"],
        ["reports", "reconcile", "--from", "2024-01-01", "--to", "9999-12-31"],
    ],
)
def test_the_cli_refuses_a_day_out_of_range_before_doing_anything(args: list[str]) -> None:
    result = CliRunner().invoke(cli.main, args)

    assert result.exit_code == 2, result.output
    assert "is not a day from 2000-01-01 to 9999-12-30" in result.stderr
