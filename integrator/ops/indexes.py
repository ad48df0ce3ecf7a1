"""Two read-only index look-ups the ops console needs and `PaymentStore` does not offer yet.

They read the store's own ZSETs (keys built by `integrator.store.keys`, scores by
`store.payments.created_score`) and belong in `integrator.store.payments`; they live here only
until the lead moves them (store/payments.py is another engineer's file).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import redis as redis_lib

from integrator.payments.models import PaymentStatus
from integrator.store import keys
from integrator.store.codec import as_text
from integrator.store.payments import created_score


class RedisStatusRangeIndex:
    """Implements `payments.operations.StatusRangeIndex` on the store's status ZSETs."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis

    def ids_by_status_between(
        self, status: PaymentStatus, start: datetime, end: datetime, *, offset: int, limit: int
    ) -> list[str]:
        """Ids now in `status` created in [start, end), newest first."""
        rows = self._redis.zrevrangebyscore(
            keys.payments_by_status(status.value),
            f"({created_score(end)}",
            created_score(start),
            start=offset,
            num=limit,
        )
        return [as_text(r) for r in cast(list[Any], rows)]

    def oldest_created(self, status: PaymentStatus) -> datetime | None:
        """When the oldest payment now in `status` was created (None: there is none)."""
        rows = cast(
            list[Any],
            self._redis.zrange(keys.payments_by_status(status.value), 0, 0, withscores=True),
        )
        if not rows:
            return None
        return datetime.fromtimestamp(float(rows[0][1]) / 1000, UTC)
