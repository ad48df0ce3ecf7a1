"""Device keys (in the ledger, cached in Redis), bill snapshots and the per-device rate limit,
against the real PostgreSQL and Redis."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import redis as redis_lib

from integrator.store.db import Database
from integrator.store.devices import (
    DeviceExists,
    DeviceNotFound,
    DeviceRevoked,
    DeviceStore,
    hash_key,
)
from integrator.store.ratelimit import RateLimiter
from integrator.store.snapshots import SnapshotStore
from tests.unit.payments.payment_factories import NOW, make_bill


@pytest.fixture
def devices(db: Database, redis: redis_lib.Redis) -> DeviceStore:
    return DeviceStore(db, redis, clock=lambda: NOW)


def _everything_in_the_ledger(db: Database) -> str:
    """Every column of every device and webhook row, as text, to search for secrets."""
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT d::text FROM devices d UNION ALL SELECT w::text FROM device_webhooks w"
        ).fetchall()
    return "".join(r[0] for r in rows)


def _everything_in_redis(redis: redis_lib.Redis) -> bytes:
    """Every key and value (strings, hashes, sets, zsets) concatenated, to search for secrets."""
    blob = b""
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        blob += key
        if kind == b"string":
            blob += redis.get(key) or b""
        elif kind == b"hash":
            for k, v in redis.hgetall(key).items():
                blob += k + v
        elif kind == b"set":
            blob += b"".join(redis.smembers(key))
        elif kind == b"zset":
            blob += b"".join(redis.zrange(key, 0, -1))
    return blob


def test_a_device_key_is_shown_once_and_only_its_hash_is_stored(
    devices: DeviceStore, db: Database, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("counter-1", ["pb.amritsar"])
    assert len(key) >= 43  # token_urlsafe(32)
    assert device.key_hash == hash_key(key)
    ledger = _everything_in_the_ledger(db)
    assert key not in ledger and device.key_hash in ledger
    assert devices.authenticate(key) == device
    blob = _everything_in_redis(redis)  # the cache, filled by that request
    assert key.encode() not in blob
    assert device.key_hash.encode() in blob
    assert devices.authenticate(key + "x") is None
    assert devices.authenticate("") is None


def test_names_are_unique_and_listed(devices: DeviceStore) -> None:
    devices.add("b-counter", ["pb"])
    devices.add("a-counter", ["pb.amritsar"])
    with pytest.raises(DeviceExists):
        devices.add("a-counter", ["pb"])
    assert [d.name for d in devices.list()] == ["a-counter", "b-counter"]


def test_a_revoked_device_cannot_authenticate_or_rotate(devices: DeviceStore) -> None:
    device, key = devices.add("counter-1", ["pb"])
    revoked = devices.revoke("counter-1")
    assert revoked.revoked and revoked.revoked_at == NOW
    assert devices.authenticate(key) is None
    assert devices.revoke("counter-1").revoked  # idempotent
    with pytest.raises(DeviceRevoked):
        devices.rotate_key("counter-1")
    with pytest.raises(DeviceNotFound):
        devices.revoke("nobody")
    stored = devices.get(device.id)
    assert stored is not None and stored.revoked


def test_rotating_keeps_the_device_id_and_kills_the_old_key(
    devices: DeviceStore, redis: redis_lib.Redis
) -> None:
    device, old_key = devices.add("counter-1", ["pb.amritsar", "pb.jalandhar"])
    new_key = devices.rotate_key("counter-1")
    assert new_key != old_key
    assert devices.authenticate(old_key) is None
    rotated = devices.authenticate(new_key)
    assert rotated is not None and rotated.id == device.id
    assert rotated.tenants == ("pb.amritsar", "pb.jalandhar")
    assert rotated.may_act_for("pb.jalandhar") and not rotated.may_act_for("pb.ludhiana")
    blob = _everything_in_redis(redis)
    assert old_key.encode() not in blob and new_key.encode() not in blob
    assert hash_key(old_key).encode() not in blob  # the old hash is not cached
    assert devices.admit(old_key, 10, NOW)[0] is None  # and opens nothing


# --- snapshots ---


def test_a_snapshot_round_trips_the_bill_exactly(redis: redis_lib.Redis) -> None:
    snapshots = SnapshotStore(redis, retention_seconds=86400)
    bill = make_bill(total="1200.40", expires_at=NOW + timedelta(days=2))
    snapshots.save(bill, NOW)
    back = snapshots.get(bill.id, max_age=timedelta(hours=24), now=NOW + timedelta(hours=1))
    assert back == bill
    assert back is not None and back.total_amount == Decimal("1200.40")
    assert str(back.details[0].account_details[1].amount) == "0.40"
    assert 0 < redis.pttl(f"integrator:snapshot:bill:{bill.id}") <= 86_400_000


@pytest.mark.parametrize(
    ("age", "expires_in", "usable"),
    [
        (timedelta(hours=1), timedelta(days=2), True),
        (timedelta(hours=24), timedelta(days=2), True),
        (timedelta(hours=24, seconds=1), timedelta(days=2), False),  # too old
        (timedelta(hours=1), timedelta(minutes=30), False),  # the bill expired meanwhile
        (timedelta(seconds=-1), timedelta(days=2), False),  # served "in the future"
    ],
)
def test_a_snapshot_vouches_only_while_young_and_unexpired(
    redis: redis_lib.Redis, age: timedelta, expires_in: timedelta, usable: bool
) -> None:
    snapshots = SnapshotStore(redis, retention_seconds=86400)
    bill = make_bill(expires_at=NOW + expires_in)
    snapshots.save(bill, NOW)
    got = snapshots.get(bill.id, max_age=timedelta(hours=24), now=NOW + age)
    assert (got is not None) is usable


def test_a_missing_snapshot_is_none(redis: redis_lib.Redis) -> None:
    snapshots = SnapshotStore(redis, retention_seconds=60)
    assert snapshots.get("nope", max_age=timedelta(hours=1), now=NOW) is None


# --- rate limit ---


def test_rate_limit_allows_the_limit_then_says_when_to_retry(redis: redis_lib.Redis) -> None:
    limiter = RateLimiter(redis)
    decisions = [limiter.hit("dev-1", 3, NOW + timedelta(seconds=i)) for i in range(3)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.hit("dev-1", 3, NOW + timedelta(seconds=10))
    assert not refused.allowed and refused.retry_after == 50  # the first hit leaves at 60 s
    assert limiter.hit("dev-2", 3, NOW + timedelta(seconds=10)).allowed  # per device
    # the window slides: at 60 s the first hit has left, so one more gets in
    assert limiter.hit("dev-1", 3, NOW + timedelta(seconds=60)).allowed
    assert not limiter.hit("dev-1", 3, NOW + timedelta(seconds=60, milliseconds=500)).allowed


def test_refused_hits_are_not_counted(redis: redis_lib.Redis) -> None:
    limiter = RateLimiter(redis)
    assert limiter.hit("dev-1", 1, NOW).allowed
    for i in range(5):
        assert not limiter.hit("dev-1", 1, NOW + timedelta(seconds=i)).allowed
    assert limiter.hit("dev-1", 1, NOW + timedelta(seconds=60)).allowed


def test_admit_authenticates_and_counts_in_one_step_like_the_two_separate_calls(
    devices: DeviceStore, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("pos-admit", ["pb"])

    decisions = [devices.admit(key, 3, NOW + timedelta(seconds=i)) for i in range(4)]

    assert [d.id if d else None for d, _, _ in decisions] == [device.id] * 4
    assert [r.allowed for _, r, _ in decisions] == [True, True, True, False]
    assert decisions[2][1].remaining == 0
    assert decisions[3][1].retry_after == 57  # the first hit leaves the window at +60 s
    # the same ZSET as RateLimiter: one limit whichever path counted
    assert RateLimiter(redis).hit(device.id, 3, NOW + timedelta(seconds=5)).allowed is False


def test_admit_refuses_unknown_and_revoked_keys_without_counting(
    devices: DeviceStore, redis: redis_lib.Redis
) -> None:
    device, key = devices.add("pos-admit-2", ["pb"])
    assert devices.admit(key + "x", 10, NOW) == (None, devices.admit("", 10, NOW)[1], None)
    devices.revoke("pos-admit-2")

    found, decision, _ = devices.admit(key, 10, NOW)

    assert found is None and decision.allowed is False
    assert RateLimiter(redis).hit(device.id, 1, NOW).allowed is True  # nothing was counted
