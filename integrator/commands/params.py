"""Parameter types the command groups share."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import click

from integrator.payments.days import FIRST_DAY, LAST_DAY, day_in_range


class Day(click.DateTime):
    """A calendar day YYYY-MM-DD between days.FIRST_DAY and days.LAST_DAY (a later day's end is
    no datetime: 9999-12-31 overflowed every report and day close). A datetime at 00:00, as
    click.DateTime gives."""

    name = "day"

    def __init__(self) -> None:
        super().__init__(formats=["%Y-%m-%d"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        moment = super().convert(value, param, ctx)
        if isinstance(moment, datetime) and not day_in_range(moment.date()):
            self.fail(
                f"{moment.date().isoformat()} is not a day from {FIRST_DAY.isoformat()} to "
                f"{LAST_DAY.isoformat()}.",
                param,
                ctx,
            )
        return moment


def in_zone(moment: datetime | str | None, tz: tzinfo) -> str | None:
    """`moment` (a datetime, or one already written as ISO 8601, as stored figures hold it) as
    ISO 8601 in `tz`: the CLI prints every time in DIGIT_TIMEZONE, as the console shows them."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(tz).isoformat()
