"""ServedBills on the real Redis: snapshots written, pending payments read, in one round trip."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis as redis_lib

from integrator.store.open_claims import OpenClaimMarks
from integrator.store.served import ServedBills
from integrator.store.snapshots import SnapshotStore
from tests.unit.payments.payment_factories import NOW, make_bill


class _CountingRedis(redis_lib.Redis):
    """Counts the round trips: each plain command, and each pipeline execution."""

    round_trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        type(self).round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            type(self).round_trips += 1
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


def test_record_snapshots_every_bill_in_one_round_trip(redis: redis_lib.Redis) -> None:
    counting = _CountingRedis(connection_pool=redis.connection_pool)
    snapshots = SnapshotStore(counting, retention_seconds=3600)
    served = ServedBills(
        counting, snapshots=snapshots, marks=OpenClaimMarks(counting), read_open_claims=list
    )
    first, second = make_bill(consumer_code="C-1"), make_bill(consumer_code="C-2")

    # the first call also loads the script into Redis and completes the (empty) marks
    served.record([make_bill()], NOW)
    _CountingRedis.round_trips = 0
    may_be_pending = served.record([first, second], NOW)

    assert _CountingRedis.round_trips == 1
    assert may_be_pending == [False, False]
    for bill in (first, second):
        kept = snapshots.get(bill.id, max_age=timedelta(minutes=5), now=NOW)
        assert kept == bill


def test_no_bills_no_round_trip(redis: redis_lib.Redis) -> None:
    counting = _CountingRedis(connection_pool=redis.connection_pool)
    served = ServedBills(
        counting,
        snapshots=SnapshotStore(counting, retention_seconds=60),
        marks=OpenClaimMarks(counting),
        read_open_claims=list,
    )
    _CountingRedis.round_trips = 0
    served.record([], NOW)
    assert _CountingRedis.round_trips == 0
