"""The ledger's rules hold when several processes race for them at once (real PostgreSQL).

Each test starts worker processes (spawned: their own interpreter, pool and connections) that
wait on one barrier and then all try to break the same rule. The database, not the code path,
must be what lets exactly one of them through.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.store.db import Database
from integrator.store.leases import LeaseStore
from integrator.store.payments import CreateOutcome, PaymentStore, StaleFence
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

PROCESSES = 6


def _race(target: Callable[..., Any], *args: Any) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(i, barrier, results, *args)) for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    found = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    return found


def _create_for_consumer(i: int, barrier: Any, results: Any, url: str, same_key: bool) -> None:
    db = Database.connect(url, max_size=1)
    store = PaymentStore(db)
    payment = make_payment(
        idempotency_key="one-key" if same_key else f"key-{i}",
        fingerprint="fp",
        bills=(make_line(bill_id=f"bill-{i}", consumer_code="C-RACE"),),
    )
    barrier.wait()
    results.put(store.create(payment).outcome.value)
    db.close()


def test_processes_paying_one_consumer_make_one_open_payment(
    database_url: str, db: Database
) -> None:
    outcomes = _race(_create_for_consumer, database_url, False)
    assert sorted(outcomes) == ["CONFLICT"] * (PROCESSES - 1) + ["CREATED"]
    assert PaymentStore(db).count_by_status()[PaymentStatus.PENDING] == 1


def test_processes_sending_one_idempotency_key_make_one_payment(
    database_url: str, db: Database
) -> None:
    outcomes = _race(_create_for_consumer, database_url, True)
    assert outcomes.count("CREATED") == 1
    assert set(outcomes) <= {"CREATED", "REPLAY"}
    assert len(PaymentStore(db).ids_for_idempotency_key("one-key")) == 1


def _create_for_bill(i: int, barrier: Any, results: Any, url: str) -> None:
    db = Database.connect(url, max_size=1)
    store = PaymentStore(db)
    payment = make_payment(bills=(make_line(bill_id="bill-RACE", consumer_code=f"C-{i}"),))
    barrier.wait()
    results.put(store.create(payment).outcome.value)
    db.close()


def test_processes_paying_one_bill_make_one_live_payment(database_url: str, db: Database) -> None:
    outcomes = _race(_create_for_bill, database_url)
    assert sorted(outcomes) == ["BILL_TAKEN"] * (PROCESSES - 1) + ["CREATED"]
    assert len(PaymentStore(db).ids_for_bill("bill-RACE")) == 1


def _acquire(i: int, barrier: Any, results: Any, url: str, payment_id: str) -> None:
    db = Database.connect(url, max_size=1)
    leases = LeaseStore(db)
    barrier.wait()
    results.put(leases.acquire(payment_id, ttl_seconds=30))
    db.close()


def test_processes_racing_for_a_lease_get_one_fence(database_url: str, db: Database) -> None:
    store = PaymentStore(db)
    payment = make_payment()
    assert store.create(payment).outcome is CreateOutcome.CREATED
    fences = _race(_acquire, database_url, payment.id)
    held = [f for f in fences if f is not None]
    assert len(held) == 1
    assert LeaseStore(db).current(payment.id) == held[0]


def test_a_stale_fence_never_writes_even_when_its_holder_wakes_up_later(db: Database) -> None:
    store, leases = PaymentStore(db), LeaseStore(db)
    payment = make_payment()
    store.create(payment)
    old = leases.acquire(payment.id, ttl_seconds=0.05)
    assert old is not None
    time.sleep(0.1)  # the old attempt was paused past its lease
    new = leases.acquire(payment.id, ttl_seconds=30)
    assert new is not None and new > old
    sent = states.mark_create_sent(payment, ["b1"], actor="old", at=NOW)
    try:
        store.save(sent, fence=old)
        raise AssertionError("a stale fence wrote")
    except StaleFence:
        pass
    stored = store.get(payment.id)
    assert stored is not None and not stored.create_sent and stored.version == 0
    done = store.save(sent, fence=new)
    assert done.create_sent
