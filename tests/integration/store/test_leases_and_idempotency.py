"""Leases with fencing tokens in a real PostgreSQL ledger, and Idempotency-Key claims (in-flight
markers in a real Redis, records in the ledger)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import redis as redis_lib

from integrator.payments.models import PaymentStatus
from integrator.payments.ports import LeaseAfterSave, StaleFence
from integrator.store.db import Database
from integrator.store.idempotency import ClaimOutcome, IdempotencyStore
from integrator.store.leases import LeaseStore
from integrator.store.payments import CreateOutcome, PaymentStore
from tests.unit.payments.payment_factories import NOW, make_line, make_payment


@pytest.fixture
def leases(db: Database) -> LeaseStore:
    # a lease lives in its payment's row: two payments to lease
    store = PaymentStore(db)
    for pid in ("p1", "p2"):
        store.create(make_payment(id=pid, bills=(make_line(consumer_code=f"C-{pid}"),)))
    return LeaseStore(db)


@pytest.fixture
def claims(db: Database, redis: redis_lib.Redis) -> IdempotencyStore:
    return IdempotencyStore(db, redis, in_flight_bound_seconds=10)


# --- leases ---


def test_a_held_lease_cannot_be_acquired_again(leases: LeaseStore) -> None:
    token = leases.acquire("p1", ttl_seconds=5)
    assert token is not None
    assert leases.acquire("p1", ttl_seconds=5) is None
    assert leases.current("p1") == token
    assert leases.acquire("p2", ttl_seconds=5) is not None  # per payment
    assert leases.acquire("no-such-payment", ttl_seconds=5) is None


def test_release_is_compare_and_delete_and_tokens_only_grow(leases: LeaseStore) -> None:
    first = leases.acquire("p1", ttl_seconds=5)
    assert first is not None
    assert not leases.release("p1", first + 1)
    assert leases.current("p1") == first
    assert leases.release("p1", first)
    assert leases.current("p1") is None
    second = leases.acquire("p1", ttl_seconds=5)
    assert second is not None and second > first
    assert not leases.release("p1", first)


def test_an_expired_lease_can_be_taken_and_the_old_holder_cannot_renew(leases: LeaseStore) -> None:
    first = leases.acquire("p1", ttl_seconds=0.05)
    assert first is not None
    assert leases.renew("p1", first, ttl_seconds=0.05)
    time.sleep(0.12)
    assert leases.current("p1") is None
    second = leases.acquire("p1", ttl_seconds=5)
    assert second is not None and second > first
    assert not leases.renew("p1", first, ttl_seconds=5)
    assert not leases.release("p1", first)
    assert leases.current("p1") == second


def test_concurrent_attempts_never_overlap(leases: LeaseStore) -> None:
    barrier = threading.Barrier(20)
    tokens: list[int | None] = []

    def go() -> None:
        barrier.wait()
        tokens.append(leases.acquire("p1", ttl_seconds=5))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [t for t in tokens if t is not None]
    assert len(held) == 1 and leases.current("p1") == held[0]


def test_a_lease_needs_a_positive_ttl(leases: LeaseStore) -> None:
    with pytest.raises(ValueError):
        leases.acquire("p1", ttl_seconds=0)


def test_acquire_pending_takes_the_lease_and_reads_the_payment_in_one_go(
    leases: LeaseStore, db: Database
) -> None:
    leased = leases.acquire_pending("p1", ttl_seconds=5)
    assert leased is not None
    fence, payment = leased
    assert payment == PaymentStore(db).get("p1")  # the whole payment, bills and all
    assert leases.current("p1") == fence
    assert leases.acquire_pending("p1", ttl_seconds=5) is None  # held
    assert leases.acquire_pending("no-such-payment", ttl_seconds=5) is None


def test_acquire_pending_leaves_a_payment_past_pending_alone(
    leases: LeaseStore, db: Database
) -> None:
    store = PaymentStore(db)
    payment = store.get("p2")
    assert payment is not None
    store.save(replace(payment, status=PaymentStatus.NEEDS_ATTENTION), fence=None)
    assert leases.acquire_pending("p2", ttl_seconds=5) is None
    assert leases.current("p2") is None  # no fence spent, no lease taken


def test_a_save_renews_or_releases_the_lease_only_under_its_fence(
    leases: LeaseStore, db: Database
) -> None:
    store = PaymentStore(db)
    leased = leases.acquire_pending("p1", ttl_seconds=0.3)
    assert leased is not None
    fence, payment = leased
    payment = store.save(payment, fence=fence, lease=LeaseAfterSave.RENEW, lease_ttl_seconds=30)
    time.sleep(0.4)
    assert leases.current("p1") == fence  # renewed by the save
    with pytest.raises(StaleFence):
        store.save(payment, fence=fence + 1, lease=LeaseAfterSave.RELEASE)
    assert leases.current("p1") == fence  # a stale save releases nothing
    store.save(payment, fence=fence, lease=LeaseAfterSave.RELEASE)
    assert leases.current("p1") is None
    with pytest.raises(ValueError):
        store.save(payment, fence=None, lease=LeaseAfterSave.RELEASE)


# --- idempotency claims ---


def test_claim_outcomes(claims: IdempotencyStore) -> None:
    first = claims.claim("dev-1", "k", "fp-a", now=NOW)
    assert first.outcome is ClaimOutcome.NEW and first.token
    assert claims.claim("dev-1", "k", "fp-a", now=NOW).outcome is ClaimOutcome.IN_FLIGHT
    assert claims.claim("dev-1", "k", "fp-b", now=NOW).outcome is ClaimOutcome.MISMATCH
    assert claims.claim("dev-2", "k", "fp-b", now=NOW).outcome is ClaimOutcome.NEW


def test_a_released_claim_frees_the_key_but_only_for_its_holder(claims: IdempotencyStore) -> None:
    first = claims.claim("dev-1", "k", "fp-a", now=NOW)
    assert not claims.release("dev-1", "k", "someone-else")
    assert claims.claim("dev-1", "k", "fp-a", now=NOW).outcome is ClaimOutcome.IN_FLIGHT
    assert claims.release("dev-1", "k", first.token)
    # validation failed, nothing stored: the key may be used again, even with another body
    assert claims.claim("dev-1", "k", "fp-b", now=NOW).outcome is ClaimOutcome.NEW


def test_an_abandoned_claim_is_taken_over_after_the_bound(claims: IdempotencyStore) -> None:
    claims.claim("dev-1", "k", "fp-a", now=NOW)
    assert claims.claim("dev-1", "k", "fp-a", now=NOW + timedelta(seconds=9)).outcome is (
        ClaimOutcome.IN_FLIGHT
    )
    late = claims.claim("dev-1", "k", "fp-a", now=NOW + timedelta(seconds=10))
    assert late.outcome is ClaimOutcome.NEW


def test_after_the_payment_is_stored_the_key_replays_forever(
    claims: IdempotencyStore, db: Database
) -> None:
    store = PaymentStore(db)
    claim = claims.claim("dev-1", "k", "fp-a", now=NOW)
    payment = make_payment(idempotency_key="k", fingerprint="fp-a")
    assert store.create(payment).outcome is CreateOutcome.CREATED
    # while its marker lasts, a repeat reads the ledger: a replay, or a key reused
    replay = claims.claim("dev-1", "k", "fp-a", now=NOW + timedelta(seconds=1))
    assert (replay.outcome, replay.payment_id) == (ClaimOutcome.REPLAY, payment.id)
    mismatch = claims.claim("dev-1", "k", "fp-b", now=NOW)
    assert (mismatch.outcome, mismatch.payment_id) == (ClaimOutcome.MISMATCH, payment.id)
    # after it (or once released), a repeat claims like a new key without reading the ledger;
    # the ledger's record still binds the key: `bound` and the acceptance's UNIQUE say so
    claims.release("dev-1", "k", claim.token)
    late = claims.claim("dev-1", "k", "fp-a", now=NOW + timedelta(days=400))
    assert late.outcome is ClaimOutcome.NEW
    earlier = claims.bound("dev-1", "k", "fp-a")
    assert earlier is not None
    assert (earlier.outcome, earlier.payment_id) == (ClaimOutcome.REPLAY, payment.id)
    other = claims.bound("dev-1", "k", "fp-b")
    assert other is not None and other.outcome is ClaimOutcome.MISMATCH
    assert claims.bound("dev-1", "other-key", "fp-a") is None
    again = store.create(make_payment(idempotency_key="k", fingerprint="fp-a"))
    assert (again.outcome, again.payment_id) == (CreateOutcome.REPLAY, payment.id)
    assert claims.payment_id("dev-1", "k") == payment.id


def test_a_lost_marker_still_never_makes_a_second_payment(
    claims: IdempotencyStore, db: Database, redis: redis_lib.Redis
) -> None:
    store = PaymentStore(db)
    assert claims.claim("dev-1", "k", "fp-a", now=NOW).outcome is ClaimOutcome.NEW
    redis.flushdb()  # Redis lost the marker: a duplicate gets past the claim
    assert claims.claim("dev-1", "k", "fp-a", now=NOW).outcome is ClaimOutcome.NEW
    first = make_payment(idempotency_key="k", fingerprint="fp-a")
    second = make_payment(idempotency_key="k", fingerprint="fp-a")
    assert store.create(first).outcome is CreateOutcome.CREATED
    replayed = store.create(second)
    assert (replayed.outcome, replayed.payment_id) == (CreateOutcome.REPLAY, first.id)
    other = store.create(make_payment(idempotency_key="k", fingerprint="fp-b"))
    assert (other.outcome, other.payment_id) == (CreateOutcome.MISMATCH, first.id)
    assert store.get(second.id) is None


def test_concurrent_identical_claims_let_exactly_one_request_in(claims: IdempotencyStore) -> None:
    barrier = threading.Barrier(16)
    outcomes: list[ClaimOutcome] = []

    def go() -> None:
        barrier.wait()
        outcomes.append(claims.claim("dev-1", "k", "fp-a", now=NOW).outcome)

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(ClaimOutcome.NEW) == 1
    assert outcomes.count(ClaimOutcome.IN_FLIGHT) == 15


def test_keys_with_colons_do_not_collide(claims: IdempotencyStore) -> None:
    assert claims.claim("a:b", "c", "fp", now=NOW).outcome is ClaimOutcome.NEW
    assert claims.claim("a", "b:c", "fp", now=NOW).outcome is ClaimOutcome.NEW
