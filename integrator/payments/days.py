"""Calendar days as time ranges: reports and searches name days in a time zone, the ledger
stores instants."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

#: The calendar days a report, a search, a walk, a day close or an instrument may name: from 2000
#: (no payment of this integrator is older) to the last day whose end, the next day's start, is
#: still a datetime in every zone, also in UTC. Every edge (API schema, console, CLI) refuses a day
#: outside with its own words; `check_day` keeps one that slipped through from overflowing.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(9999, 12, 30)


class DayOutOfRange(ValueError):
    """A day outside FIRST_DAY..LAST_DAY."""


def day_in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def check_day(day: date) -> date:
    """`day`, or DayOutOfRange when it is outside FIRST_DAY..LAST_DAY."""
    if not day_in_range(day):
        raise DayOutOfRange(f"{day.isoformat()} is not between {FIRST_DAY} and {LAST_DAY}")
    return day


def next_day_start(day: date, tz: tzinfo) -> datetime:
    """00:00 in `tz` of the day after `day` (DayOutOfRange outside FIRST_DAY..LAST_DAY)."""
    return datetime.combine(check_day(day) + timedelta(days=1), time(0), tz)


def day_bounds(first: date | None, last: date | None, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in `tz`; open ends are far away.
    DayOutOfRange for a day outside FIRST_DAY..LAST_DAY."""
    start = (
        datetime.combine(check_day(first), time(0), tz)
        if first
        else datetime(1970, 1, 2, tzinfo=tz)
    )
    end = next_day_start(last, tz) if last else datetime(9999, 1, 1, tzinfo=tz)
    return start, end
