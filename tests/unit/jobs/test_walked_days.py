"""The days a walk of DIGIT's payments covers when the job is given none, one or both ends."""

from __future__ import annotations

from datetime import date

import pytest

from integrator.jobs.reconcile import DAILY_WALK_DAYS, walked_days

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("first_day", "last_day", "expected"),
    [
        (None, None, (date(2026, 3, 8), date(2026, 3, 9))),
        ("2026-02-01", None, (date(2026, 2, 1), date(2026, 3, 9))),
        (None, "2026-03-08", (date(2026, 3, 8), date(2026, 3, 8))),
        ("2026-02-01", "2026-02-03", (date(2026, 2, 1), date(2026, 2, 3))),
        ("", "", (date(2026, 3, 8), date(2026, 3, 9))),
    ],
)
def test_a_walk_covers_the_given_days_and_otherwise_the_days_before_today(
    first_day: str | None, last_day: str | None, expected: tuple[date, date]
) -> None:
    assert walked_days(first_day, last_day, today=TODAY) == expected


def test_the_daily_walk_ends_yesterday_and_spans_daily_walk_days() -> None:
    first, last = walked_days(None, None, today=TODAY)
    assert (last - first).days + 1 == DAILY_WALK_DAYS
    assert last < TODAY
