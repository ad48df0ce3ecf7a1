"""Snapshots of the bills served to devices, for a fallback check when DIGIT is unreachable.

A snapshot vouches for a bill only while it is younger than `max_age` and the bill itself has not
expired (a bill with no expiry counts as expired). Each snapshot also expires in Redis after
`retention_seconds` (use the snapshot max age) so they do not pile up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import redis as redis_lib

from integrator import jsonutil
from integrator.digit.models import Bill
from integrator.store import keys
from integrator.store.codec import bill_from_dict, bill_to_dict


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


class SnapshotStore:
    def __init__(self, redis: redis_lib.Redis, *, retention_seconds: int) -> None:
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        self._redis = redis
        self._retention_ms = retention_seconds * 1000

    def save(self, bill: Bill, served_at: datetime) -> None:
        """Keep `bill` as served at `served_at` (replaces an older snapshot of the same bill)."""
        self.save_many([bill], served_at)

    def save_many(self, bills: Sequence[Bill], served_at: datetime) -> None:
        """`save` for every bill served in one answer: one round trip."""
        if not bills:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, doc in self.documents(bills, served_at):
            pipe.set(key, doc, px=self.retention_ms)
        pipe.execute()

    @property
    def retention_ms(self) -> int:
        return self._retention_ms

    def documents(self, bills: Sequence[Bill], served_at: datetime) -> list[tuple[str, str]]:
        """(key, JSON) of each bill's snapshot, for `save_many` or a caller writing them with
        its own commands (integrator.store.served); each expires after `retention_ms`."""
        served = _aware(served_at, "served_at").isoformat()
        return [
            (
                keys.bill_snapshot(bill.id),
                jsonutil.dumps({"served_at": served, "bill": bill_to_dict(bill)}),
            )
            for bill in bills
        ]

    def get(self, bill_id: str, *, max_age: timedelta, now: datetime) -> Bill | None:
        """The bill as last served, if served within `max_age` of `now` and not expired at `now`."""
        raw = self._redis.get(keys.bill_snapshot(bill_id))
        if raw is None:
            return None
        doc = jsonutil.loads(raw)
        served_at = datetime.fromisoformat(str(doc["served_at"]))
        now = _aware(now, "now")
        if served_at > now or now - served_at > max_age:
            return None
        bill = bill_from_dict(doc["bill"])
        expires = bill.expires_at
        if expires is None or expires <= now:
            return None
        return bill
