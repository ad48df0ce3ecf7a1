"""ServedBills and the snapshot writer on the real Redis: the answer's own round trips (none when
the marks came with the admission, one otherwise), the snapshots written behind it in batches,
`settle`, and a failed write that costs nothing but a log line."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrator.payments.models import ConsumerKey
from integrator.payments.ports import OpenMarks
from integrator.store.open_claims import OpenClaimMarks
from integrator.store.served import ServedBills
from integrator.store.snapshots import SnapshotStore
from tests.unit.payments.payment_factories import NOW, make_bill

WRITER = "snapshot-writer"
FIVE_MINUTES = timedelta(minutes=5)


class _CountingRedis(redis_lib.Redis):
    """Counts the round trips per thread (each plain command, each pipeline execution); the
    writer's may be held (`hold`) until released, to let answers queue behind a write."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trips: dict[str, int] = {}
        self.hold: threading.Event | None = None
        self.holding = threading.Event()

    def _count(self) -> None:
        name = threading.current_thread().name
        self.trips[name] = self.trips.get(name, 0) + 1
        if self.hold is not None and name == WRITER:
            self.holding.set()
            self.hold.wait(10)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self._count()
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            self._count()
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe

    def answer_trips(self) -> int:
        return sum(n for name, n in self.trips.items() if name != WRITER)


def _served(client: redis_lib.Redis) -> tuple[ServedBills, SnapshotStore]:
    snapshots = SnapshotStore(client, retention_seconds=3600)
    served = ServedBills(
        client, snapshots=snapshots, marks=OpenClaimMarks(client), read_open_claims=list
    )
    return served, snapshots


def _consumer(bill: Any) -> ConsumerKey:
    return ConsumerKey(bill.tenant_id, bill.business_service, bill.consumer_code)


def _warm(served: ServedBills, snapshots: SnapshotStore, counting: _CountingRedis) -> None:
    """One write first, so that the writer's script is loaded in Redis; then count afresh."""
    bill = make_bill(consumer_code="C-warm")
    served.record([bill], NOW, OpenMarks(_consumer(bill), 0))
    snapshots.settle()
    counting.trips.clear()


@pytest.fixture
def counting(redis: redis_lib.Redis) -> _CountingRedis:
    return _CountingRedis(connection_pool=redis.connection_pool)


def test_without_known_marks_the_answer_makes_one_round_trip(
    counting: _CountingRedis, redis: redis_lib.Redis
) -> None:
    served, snapshots = _served(counting)
    first, second = make_bill(consumer_code="C-1"), make_bill(consumer_code="C-2")
    served.record([make_bill()], NOW)  # loads the script, completes the (empty) marks
    snapshots.settle()
    counting.trips.clear()

    may_be_pending = served.record([first, second], NOW)

    assert counting.answer_trips() == 1  # the marks; the snapshots are written behind
    assert may_be_pending == [False, False]
    snapshots.settle()
    elsewhere = SnapshotStore(redis, retention_seconds=3600)  # another process's view
    for bill in (first, second):
        assert elsewhere.get(bill.id, max_age=FIVE_MINUTES, now=NOW) == bill


def test_marks_read_with_the_admission_save_the_answer_its_round_trip(
    counting: _CountingRedis, redis: redis_lib.Redis
) -> None:
    served, snapshots = _served(counting)
    bill, older = make_bill(consumer_code="C-9"), make_bill(consumer_code="C-9")
    counting.trips.clear()

    assert served.record([bill, older], NOW, OpenMarks(_consumer(bill), 1)) == [True, True]
    assert served.record([bill], NOW, OpenMarks(_consumer(bill), 0)) == [False]

    assert counting.answer_trips() == 0
    # this process reads what it queued at once; others once it is settled
    assert snapshots.get(bill.id, max_age=FIVE_MINUTES, now=NOW) == bill
    snapshots.settle()
    assert SnapshotStore(redis, retention_seconds=60).get(
        bill.id, max_age=FIVE_MINUTES, now=NOW
    ) == (bill)


def test_known_marks_of_another_consumer_or_incomplete_ones_are_not_trusted(
    counting: _CountingRedis, redis: redis_lib.Redis
) -> None:
    served, _ = _served(counting)
    bill = make_bill(consumer_code="C-1")
    OpenClaimMarks(redis).mark("p-1", [_consumer(bill)])
    redis.set(OpenClaimMarks.complete_key(), "1")
    counting.trips.clear()

    other = ConsumerKey(bill.tenant_id, bill.business_service, "c-1")  # case differs
    assert served.record([bill], NOW, OpenMarks(other, 0)) == [True]  # read from Redis
    assert counting.answer_trips() == 1

    # not complete: the ledger must be asked (True), and the marks are rebuilt
    assert served.record([bill], NOW, OpenMarks(_consumer(bill), None)) == [True]


def test_answers_queued_behind_a_write_go_in_one_round_trip(counting: _CountingRedis) -> None:
    served, snapshots = _served(counting)
    bills = [make_bill(consumer_code=f"C-{n}") for n in range(51)]
    _warm(served, snapshots, counting)
    counting.hold = threading.Event()
    served.record([bills[0]], NOW, OpenMarks(_consumer(bills[0]), 0))
    assert counting.holding.wait(10)  # the writer is in its first write

    for bill in bills[1:]:
        served.record([bill], NOW, OpenMarks(_consumer(bill), 0))
    counting.hold.set()
    snapshots.settle()

    assert counting.trips[WRITER] == 2
    for bill in bills:
        assert snapshots.get(bill.id, max_age=FIVE_MINUTES, now=NOW) == bill


def test_settle_waits_for_the_callers_own_snapshots(counting: _CountingRedis) -> None:
    served, snapshots = _served(counting)
    first, second = make_bill(consumer_code="C-1"), make_bill(consumer_code="C-2")
    _warm(served, snapshots, counting)
    counting.hold = threading.Event()
    served.record([first], NOW, OpenMarks(_consumer(first), 0))
    assert counting.holding.wait(10)  # the first write is stuck
    settled = threading.Event()

    def answer() -> None:  # another answer, queued behind the stuck write, then settled
        served.record([second], NOW, OpenMarks(_consumer(second), 0))
        snapshots.settle()
        settled.set()

    threading.Thread(target=answer).start()
    assert not settled.wait(0.3)
    idle = threading.Event()
    threading.Thread(target=lambda: (snapshots.settle(), idle.set())).start()
    assert idle.wait(1)  # a thread that queued nothing does not wait
    counting.hold.set()
    assert settled.wait(5)
    assert counting.trips[WRITER] == 2


def test_a_failed_write_is_logged_and_the_writer_goes_on(
    redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    broken = redis_lib.Redis(
        host="127.0.0.1", port=9, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    served, snapshots = _served(broken)
    bill = make_bill(consumer_code="C-1")
    with caplog.at_level(logging.WARNING, logger="integrator.store.snapshot_writer"):
        served.record([bill], NOW, OpenMarks(_consumer(bill), 0))
        snapshots.settle()
        served.record([bill], NOW, OpenMarks(_consumer(bill), 0))
        snapshots.settle()
    failures = [r for r in caplog.records if "not written" in r.getMessage()]
    assert len(failures) == 2


def test_no_bills_no_round_trip(counting: _CountingRedis) -> None:
    served, _ = _served(counting)
    served.record([], NOW)
    assert counting.trips == {}
