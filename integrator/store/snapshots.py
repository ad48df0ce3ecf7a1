"""Snapshots of the bills served to devices: what a payment of a bill served moments ago is
checked against, and the fallback check when DIGIT is unreachable.

A snapshot vouches for a bill only while it is younger than `max_age` and the bill itself has not
expired (a bill with no expiry counts as expired). Next to the snapshots, each consumer's bill
served last: a bill served before a newer one of the same consumer is superseded
(`served`). Each key expires in Redis after `retention_seconds` (use the snapshot max age) so
they do not pile up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import redis as redis_lib

from integrator import jsonutil
from integrator.digit.models import Bill
from integrator.payments.ports import ServedBill
from integrator.store import keys
from integrator.store.codec import bill_from_dict, bill_to_dict
from integrator.store.redis_batcher import RedisBatcher
from integrator.store.snapshot_writer import SnapshotWriter

log = logging.getLogger(__name__)


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


class SnapshotStore:
    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        retention_seconds: int,
        batcher: RedisBatcher | None = None,
    ) -> None:
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        self._redis = redis
        # a payment's reads of its bills go with other requests' Redis calls (a web process)
        self._batcher = batcher
        self._retention_ms = retention_seconds * 1000
        self._behind = SnapshotWriter(redis, retention_ms=self._retention_ms)

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

    def save_behind(self, bills: Sequence[Bill], served_at: datetime) -> None:
        """`save_many`, written in the background with other answers' snapshots (see
        integrator.store.snapshot_writer): this process reads them at once, every process
        once `settle` has returned."""
        if bills:
            self._behind.put(self.documents(bills, served_at))

    def settle(self) -> None:
        """Return once the snapshots this greenlet saved behind are in Redis (bounded)."""
        if not self._behind.settle():
            log.warning("bill snapshots still unwritten: answering without waiting longer")

    @property
    def retention_ms(self) -> int:
        return self._retention_ms

    def documents(self, bills: Sequence[Bill], served_at: datetime) -> list[tuple[str, str]]:
        """(key, JSON) of each bill's snapshot, for `save_many` or a caller writing them with
        its own commands (integrator.store.served); each expires after `retention_ms`."""
        served = _aware(served_at, "served_at").isoformat()
        documents = [
            (
                keys.bill_snapshot(bill.id),
                jsonutil.dumps({"served_at": served, "bill": bill_to_dict(bill)}),
            )
            for bill in bills
        ]
        documents += [
            (
                keys.consumer_served_bill(
                    bill.tenant_id, bill.business_service, bill.consumer_code
                ),
                bill.id,
            )
            for bill in bills
        ]
        return documents

    def get(self, bill_id: str, *, max_age: timedelta, now: datetime) -> Bill | None:
        """The bill as last served, if served within `max_age` of `now` and not expired at `now`."""
        key = keys.bill_snapshot(bill_id)
        raw = self._behind.pending(key) or self._redis.get(key)
        return self._vouched(raw, max_age, now)

    def served(
        self, bill_ids: Sequence[str], *, max_age: timedelta, now: datetime
    ) -> dict[str, ServedBill]:
        """Each of `bill_ids` served within `max_age` of `now` and not expired, with the newer
        bill of its consumer served since, if any (two round trips)."""
        raws = self._read([keys.bill_snapshot(b) for b in bill_ids])
        vouched = [self._vouched(raw, max_age, now) for raw in raws]
        bills = [bill for bill in vouched if bill is not None]
        if not bills:
            return {}
        latest = self._read(
            [
                keys.consumer_served_bill(b.tenant_id, b.business_service, b.consumer_code)
                for b in bills
            ]
        )
        found: dict[str, ServedBill] = {}
        for bill, newest in zip(bills, latest, strict=True):
            newest_id = newest.decode() if isinstance(newest, bytes) else newest
            superseded_by = newest_id if newest_id and newest_id != bill.id else None
            found[bill.id] = ServedBill(bill=bill, superseded_by=superseded_by)
        return found

    def _read(self, keys_: Sequence[str]) -> list[bytes | str | None]:
        """MGET, with what this process has saved behind and not yet written taking its place."""
        if not keys_:
            return []
        if self._batcher is not None:
            found: list[bytes | str | None] = self._batcher.commands(("MGET", *keys_))[0]
        else:
            found = list(self._redis.mget(keys_))
        return [self._behind.pending(key) or raw for key, raw in zip(keys_, found, strict=True)]

    @staticmethod
    def _vouched(raw: bytes | str | None, max_age: timedelta, now: datetime) -> Bill | None:
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
