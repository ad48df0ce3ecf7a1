"""Registration through real worker processes, real Redis and the sandbox over HTTP."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable
from subprocess import Popen

import pytest
import redis as redis_lib
import requests

from integrator.digit.client import DigitClient
from integrator.jobs.scheduling import REGISTER_PAYMENT, RqRegistrationScheduler
from integrator.payments.models import PaymentStatus
from integrator.settings import Settings
from integrator.store import keys
from integrator.store.payments import PaymentStore
from tests.integration.jobs.conftest import (
    TL,
    digit_payments_for,
    faults,
    make_pending,
    wait_for_status,
    wait_until,
)

Workers = Callable[..., Popen[bytes]]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            for child in fh.read().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _schedule(redis: redis_lib.Redis, settings: Settings, payment_id: str) -> None:
    RqRegistrationScheduler(redis, settings).schedule(payment_id, delay_seconds=0)


def test_digit_down_then_up_registers_once_promptly_after_recovery(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store)
    faults(sandbox, down=True)
    _schedule(redis, job_settings, payment.id)
    workers(RETRY_SCHEDULE_SECONDS="120")  # only the probe can bring it back quickly
    wait_until(lambda: redis.exists(keys.digit_down_since()), timeout=15, what="down flag")
    pending = store.get(payment.id)
    assert pending is not None and pending.attempts >= 1
    assert pending.last_error and "DigitUnavailable" in pending.last_error
    faults(sandbox, down=False)
    up = time.monotonic()
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED, timeout=10)
    assert time.monotonic() - up < 10  # the probe, not the 120 s retry slot
    assert len(digit_payments_for(sandbox, set(done.bill_ids))) == 1
    assert not redis.exists(keys.digit_down_since())


@pytest.mark.parametrize(
    "fault",
    [
        {"timeout_after_commit": 1, "hang_seconds": 3},  # committed, the answer never arrives
        {"unknown_400_after_commit": 1},  # committed, then an unhandled-exception 400
    ],
    ids=["timeout-after-commit", "unknown-400-after-commit"],
)
def test_a_create_committed_without_a_usable_answer_is_adopted_not_created_twice(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
    fault: dict[str, int],
) -> None:
    payment = make_pending(digit, store)
    faults(sandbox, **fault)
    _schedule(redis, job_settings, payment.id)
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED, timeout=25)
    assert done.receipt_numbers
    assert any(h.reason == "adopted" for h in done.history)
    assert len(digit_payments_for(sandbox, set(done.bill_ids))) == 1


def test_worker_killed_mid_registration_still_ends_with_exactly_one_receipt(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store)
    faults(sandbox, latency_ms=3000)  # DIGIT commits 3 s after the call, whoever is listening
    _schedule(redis, job_settings, payment.id)
    overrides = {"LEASE_TTL_SECONDS": "6", "DIGIT_READ_TIMEOUT": "5"}
    first = workers(**overrides)

    def create_sent() -> bool:
        p = store.get(payment.id)
        return p is not None and p.create_sent

    wait_until(create_sent, timeout=15, what="the create to be sent")
    time.sleep(0.5)
    for pid in _descendants(first.pid):  # RQ's work horse runs in its own session
        os.kill(pid, signal.SIGKILL)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    killed = time.monotonic()
    faults(sandbox, latency_ms=0)
    workers(**overrides)
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED, timeout=60)
    assert time.monotonic() - killed < 60
    assert [h.actor for h in done.history if h.event == "create_sent"] == ["worker"]
    assert any(h.reason == "adopted" for h in done.history), done.history
    assert len(digit_payments_for(sandbox, set(done.bill_ids))) == 1


def test_retries_exhausted_end_in_needs_attention_and_the_payment_is_kept(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store)
    faults(sandbox, down=True)
    _schedule(redis, job_settings, payment.id)
    workers(RETRY_MAX_AGE_SECONDS="4", DIGIT_PROBE_SECONDS="60")
    done = wait_for_status(store, payment.id, PaymentStatus.NEEDS_ATTENTION, timeout=25)
    assert done.needs_attention_reason == "RETRIES_EXHAUSTED"
    assert done.attempts >= 1
    assert digit_payments_for(sandbox, set(done.bill_ids)) == []


def test_bill_paid_elsewhere_needs_attention_with_that_reason(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store, TL)
    requests.post(
        f"{sandbox}/_sandbox/counter-payment",
        timeout=5,
        json={
            "tenantId": "pb.amritsar",
            "businessService": TL[0],
            "consumerCode": TL[1],
        },
    ).raise_for_status()
    _schedule(redis, job_settings, payment.id)
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.NEEDS_ATTENTION)
    assert done.needs_attention_reason == "BILL_PAID_ELSEWHERE"
    assert len(digit_payments_for(sandbox, set(done.bill_ids))) == 1  # the counter's only


def test_auth_locked_spends_no_attempts(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store)
    redis.delete(keys.digit_token())  # the test's own token must not help the worker
    requests.post(f"{sandbox}/_sandbox/revoke-tokens", timeout=5).raise_for_status()
    _schedule(redis, job_settings, payment.id)
    workers(DIGIT_PASSWORD="wrong-password")

    def blocked_twice() -> bool:
        p = store.get(payment.id)
        # identical blocked attempts are one history entry with a count
        return p is not None and sum(h.count for h in p.history if h.event == "attempt") >= 2

    wait_until(blocked_twice, timeout=15, what="two blocked attempts")
    blocked = store.get(payment.id)
    assert blocked is not None and blocked.status is PaymentStatus.PENDING
    assert blocked.attempts == 0
    assert blocked.last_error and "DigitAuth" in blocked.last_error
    assert all(h.detail.get("spent") is False for h in blocked.history if h.event == "attempt")
    assert digit_payments_for(sandbox, set(blocked.bill_ids)) == []


def test_expired_bill_with_the_same_total_is_retargeted_and_registered(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store, TL)
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": 20 * 86400}, timeout=5
    ).raise_for_status()
    _schedule(redis, job_settings, payment.id)
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED)
    (bill,) = done.bills
    original = payment.bills[0].bill_id
    assert bill.retargeted_from == original and bill.bill_id != original
    assert bill.balance_left == 0 and bill.receipt_number
    assert {original, bill.bill_id} <= done.targeted_bill_ids
    assert len(digit_payments_for(sandbox, {original, bill.bill_id})) == 1


def test_two_jobs_for_one_payment_at_once_make_one_digit_create(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store)
    faults(sandbox, latency_ms=1000)
    queue = RqRegistrationScheduler(redis, job_settings).queue
    for job_id in (f"register-{payment.id}", f"duplicate-{payment.id}"):
        queue.enqueue(REGISTER_PAYMENT, payment.id, job_id=job_id, result_ttl=0)
    workers()
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED)
    time.sleep(2)  # let the BUSY one come back and find it finished
    assert len(digit_payments_for(sandbox, set(done.bill_ids))) == 1
    counters = requests.get(f"{sandbox}/_sandbox/counters", timeout=5).json()
    creates = {k: v for k, v in counters.items() if "create" in k.lower()}
    assert sum(creates.values()) == 1, counters


def test_expired_bill_whose_total_changed_needs_attention_for_a_full_payment(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    payment = make_pending(digit, store, TL)  # the full 1500
    # a new demand expires the bill and the successor asks for more (penalty, a new period)
    requests.post(
        f"{sandbox}/_sandbox/new-demand",
        timeout=5,
        json={
            "tenantId": "pb.amritsar",
            "businessService": TL[0],
            "consumerCode": TL[1],
        },
    ).raise_for_status()
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": 20 * 86400}, timeout=5
    ).raise_for_status()
    _schedule(redis, job_settings, payment.id)
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.NEEDS_ATTENTION)
    assert done.needs_attention_reason == "BILL_EXPIRED_TOTAL_CHANGED"
    assert digit_payments_for(sandbox, set(done.targeted_bill_ids)) == []


def test_expired_bill_of_a_partial_payment_is_retargeted_even_if_the_total_grew(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    from decimal import Decimal

    from tests.integration.jobs.conftest import WS

    payment = make_pending(digit, store, WS, amount=Decimal(300))  # 300 of 815: partial
    requests.post(
        f"{sandbox}/_sandbox/new-demand",
        timeout=5,
        json={
            "tenantId": "pb.amritsar",
            "businessService": WS[0],
            "consumerCode": WS[1],
        },
    ).raise_for_status()
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": 20 * 86400}, timeout=5
    ).raise_for_status()
    _schedule(redis, job_settings, payment.id)
    workers()
    done = wait_for_status(store, payment.id, PaymentStatus.REGISTERED)
    (bill,) = done.bills
    assert bill.retargeted_from == payment.bills[0].bill_id
    assert bill.amount == Decimal(300)
    assert bill.total_due > payment.bills[0].total_due
    assert bill.balance_left == bill.total_due - Decimal(300)
    assert len(digit_payments_for(sandbox, {bill.bill_id})) == 1


def test_a_403_on_create_in_a_city_without_a_role_ends_in_digit_forbidden_after_the_bound(
    redis: redis_lib.Redis,
    sandbox: str,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    workers: Workers,
) -> None:
    """Stored as if the city check had not caught it (roles granted elsewhere, or changed since):
    DIGIT's access control answers 403 on every create, which is no reason to retry forever."""
    payment = make_pending(digit, store)
    moved = dataclasses.replace(
        payment,
        id=f"{payment.id}-naw",
        idempotency_key=f"{payment.idempotency_key}-naw",
        tenant_id="pb.nawanshahr",
        bills=tuple(
            dataclasses.replace(
                b, bill_id=f"naw-{b.bill_id}", consumer_code="WS/1801/2019-20/000301"
            )
            for b in payment.bills
        ),
    )
    assert store.create(moved).outcome.value == "CREATED"
    _schedule(redis, job_settings, moved.id)
    workers(AUTH_BLOCKED_MAX_SECONDS="3")

    stuck = wait_for_status(store, moved.id, PaymentStatus.NEEDS_ATTENTION, timeout=30)

    assert stuck.needs_attention_reason == "DIGIT_FORBIDDEN"
    assert "pb.nawanshahr" in (stuck.last_error or "")
    assert stuck.attempts == 0  # a refusal of our account, not of the payment: nothing spent
    assert digit_payments_for(sandbox, set(stuck.bill_ids)) == []
