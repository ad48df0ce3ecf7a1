"""Calendar days as time ranges: reports and searches name days in a time zone, the ledger
stores instants."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo


def day_bounds(first: date | None, last: date | None, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in `tz`; open ends are far away."""
    start = datetime.combine(first, time(0), tz) if first else datetime(1970, 1, 2, tzinfo=tz)
    end = (
        datetime.combine(last + timedelta(days=1), time(0), tz)
        if last
        else datetime(9999, 1, 1, tzinfo=tz)
    )
    return start, end
