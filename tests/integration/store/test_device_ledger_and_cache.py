"""Devices live in the ledger; Redis only caches them by key hash (real PostgreSQL and Redis).

The cache must make the common request one Redis round trip and nothing more, must never outlive
a revoke or a rotation, and must be disposable: Redis losing every key loses no device.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib

from integrator.payments.devices import Device
from integrator.payments.models import ConsumerKey
from integrator.payments.ports import OpenMarks
from integrator.store import keys
from integrator.store.db import Database
from integrator.store.devices import CACHE_SECONDS, DeviceExists, DeviceStore
from integrator.store.open_claims import OpenClaimMarks
from tests.unit.payments.payment_factories import NOW

PROCESSES = 4


@pytest.fixture
def devices(db: Database, redis: redis_lib.Redis) -> DeviceStore:
    return DeviceStore(db, redis, clock=lambda: NOW)


@contextmanager
def counting(redis: redis_lib.Redis, db: Database) -> Iterator[dict[str, int]]:
    """Count Redis commands sent by `redis` (a script call is one) and ledger transactions."""
    counts = {"redis": 0, "ledger": 0}
    send = redis.execute_command
    transaction = db.transaction

    def counted_send(*args: Any, **options: Any) -> Any:
        counts["redis"] += 1
        return send(*args, **options)

    def counted_transaction() -> Any:
        counts["ledger"] += 1
        return transaction()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis, "execute_command", counted_send)
        patch.setattr(db, "transaction", counted_transaction)
        yield counts


def test_a_cached_device_is_admitted_in_one_redis_round_trip_without_the_ledger(
    devices: DeviceStore, db: Database, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("pos-cached", ["pb"])
    assert devices.admit(key, 100, NOW)[0] == device  # the miss fills the cache

    with counting(redis, db) as counts:
        found, decision, _ = devices.admit(key, 100, NOW + timedelta(seconds=1))

    assert found == device and decision.allowed
    assert counts == {"redis": 1, "ledger": 0}
    ttl = redis.pttl(keys.device_cache(device.key_hash))
    assert 0 < ttl <= CACHE_SECONDS * 1000


def test_admission_reads_a_consumers_open_payment_marks_in_the_same_round_trip(
    devices: DeviceStore, db: Database, redis: redis_lib.Redis
) -> None:
    _, key = devices.add("pos-marks", ["pb"])
    consumer = ConsumerKey("pb.amritsar", "WS", "WS/1/001")
    # a miss reads the ledger and fills the cache: the marks are left to the answer
    assert devices.admit(key, 100, NOW, marks_of=consumer).open_marks is None
    assert devices.admit(key, 100, NOW).open_marks is None  # not asked

    with counting(redis, db) as counts:
        incomplete = devices.admit(key, 100, NOW, marks_of=consumer).open_marks
    assert counts == {"redis": 1, "ledger": 0}
    assert incomplete == OpenMarks(consumer, None)  # marks not rebuilt yet: ask the ledger

    marks = OpenClaimMarks(redis)
    marks.rebuild_from(list)
    assert devices.admit(key, 100, NOW, marks_of=consumer).open_marks == OpenMarks(consumer, 0)
    marks.mark("payment-1", [consumer])
    marks.mark("payment-2", [consumer])
    marks.mark("payment-3", [ConsumerKey("pb.amritsar", "WS", "WS/1/002")])
    admitted = devices.admit(key, 100, NOW, marks_of=consumer)
    assert admitted.open_marks == OpenMarks(consumer, 2)
    assert admitted.decision.allowed


def test_a_cache_miss_reads_the_ledger_once_and_counts_the_request(
    devices: DeviceStore, db: Database, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("pos-miss", ["pb"])

    with counting(redis, db) as counts:
        found, decision, _ = devices.admit(key, 1, NOW)

    assert found == device and decision.allowed and decision.remaining == 0
    assert counts == {"redis": 2, "ledger": 1}
    assert devices.admit(key, 1, NOW + timedelta(seconds=1))[1].allowed is False  # counted


@pytest.mark.parametrize("check", ["admit", "authenticate"])
def test_a_revoked_device_is_refused_at_once_by_every_process(
    db: Database, redis: redis_lib.Redis, redis_url: str, check: str
) -> None:
    web = DeviceStore(db, redis, clock=lambda: NOW)
    device, key = web.add("pos-revoked", ["pb"])
    assert web.admit(key, 100, NOW)[0] == device
    assert web.authenticate(key) == device  # cached now
    # the operator's CLI: another process, its own connections
    cli_redis = redis_lib.Redis.from_url(redis_url)
    DeviceStore(db, cli_redis, clock=lambda: NOW).revoke("pos-revoked")
    cli_redis.close()

    if check == "admit":
        found, decision, _ = web.admit(key, 100, NOW + timedelta(seconds=1))
        assert found is None and not decision.allowed
    else:
        assert web.authenticate(key) is None
    assert redis.exists(keys.device_cache(device.key_hash)) == 0


def test_a_rotated_away_key_is_refused_at_once_and_the_new_one_admitted(
    devices: DeviceStore, redis: redis_lib.Redis
) -> None:
    device, old_key = devices.add("pos-rotated", ["pb"])
    assert devices.admit(old_key, 100, NOW)[0] == device

    new_key = devices.rotate_key("pos-rotated")

    assert devices.admit(old_key, 100, NOW)[0] is None
    found = devices.admit(new_key, 100, NOW)[0]
    assert found is not None and found.id == device.id


def test_losing_redis_loses_no_device_and_the_next_request_is_admitted_from_the_ledger(
    devices: DeviceStore, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("pos-flushed", ["pb.amritsar"])
    assert devices.admit(key, 100, NOW)[0] == device
    revoked, revoked_key = devices.add("pos-flushed-revoked", ["pb"])
    devices.revoke(revoked.name)

    redis.flushall()

    found, decision, _ = devices.admit(key, 100, NOW + timedelta(seconds=1))
    assert found == device and decision.allowed
    assert redis.exists(keys.device_cache(device.key_hash)) == 1  # cached again
    assert devices.admit(revoked_key, 100, NOW)[0] is None  # still revoked
    assert [d.name for d in devices.list()] == ["pos-flushed", "pos-flushed-revoked"]


def test_a_fill_that_read_the_ledger_before_a_revoke_does_not_cache_the_device(
    db: Database, redis: redis_lib.Redis
) -> None:
    web = DeviceStore(db, redis, clock=lambda: NOW)
    operator = DeviceStore(db, redis, clock=lambda: NOW)
    device, key = web.add("pos-race", ["pb"])
    read_ledger = web._live_by_hash

    def read_then_revoke(digest: str) -> Device | None:
        found = read_ledger(digest)  # live when read...
        operator.revoke("pos-race")  # ...revoked before the fill reaches Redis
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web, "_live_by_hash", read_then_revoke)
        first, *_ = web.admit(key, 100, NOW)

    assert first == device  # the request began before the revoke finished
    assert redis.exists(keys.device_cache(device.key_hash)) == 0
    assert web.admit(key, 100, NOW + timedelta(seconds=1))[0] is None


def test_the_cache_is_only_a_cache_a_device_the_ledger_does_not_hold_is_refused(
    devices: DeviceStore, db: Database, redis: redis_lib.Redis
) -> None:
    """A cache entry whose key hash is not the device's own opens nothing (defence in depth)."""
    device, key = devices.add("pos-real", ["pb"])
    other, other_key = devices.add("pos-other", ["pb"])
    assert devices.admit(other_key, 100, NOW)[0] == other
    # plant the other device's record under this key's hash
    redis.set(keys.device_cache(device.key_hash), redis.get(keys.device_cache(other.key_hash)))

    assert devices.admit(key, 100, NOW)[0] is None
    assert devices.authenticate(key) is None


def _add_same_name(i: int, barrier: Any, results: Any, database_url: str, redis_url: str) -> None:
    db = Database.connect(database_url, max_size=1)
    client = redis_lib.Redis.from_url(redis_url)
    store = DeviceStore(db, client)
    barrier.wait()
    try:
        device, _key = store.add("twin-counter", [f"pb.city{i}"])
        results.put(("added", device.id))
    except DeviceExists:
        results.put(("exists", None))
    finally:
        client.close()
        db.close()


def test_processes_adding_one_device_name_make_one_device(
    database_url: str, redis_url: str, db: Database, redis: redis_lib.Redis
) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_add_same_name, args=(i, barrier, results, database_url, redis_url))
        for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0

    assert sorted(o for o, _ in outcomes) == ["added"] + ["exists"] * (PROCESSES - 1)
    stored = DeviceStore(db, redis).list()
    assert [(d.name, d.id) for d in stored] == [
        ("twin-counter", next(i for o, i in outcomes if o == "added"))
    ]
