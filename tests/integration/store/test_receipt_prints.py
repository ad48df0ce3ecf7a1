"""The ledger's receipt print count (revision 0005): atomic, never going back, logged."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from integrator.store.db import Database
from integrator.store.payments import PaymentStore
from integrator.store.receipts import ReceiptPrintStore
from tests.unit.payments.payment_factories import NOW, make_payment


@pytest.fixture
def prints(db: Database) -> ReceiptPrintStore:
    return ReceiptPrintStore(db)


@pytest.fixture
def payment_id(db: Database) -> str:
    payment = make_payment()
    PaymentStore(db).create(payment)
    return payment.id


def test_the_first_print_is_number_one_and_each_later_one_counts_up(
    prints: ReceiptPrintStore, payment_id: str
) -> None:
    numbers = [
        prints.count_print(payment_id, device_id="dev-1", rendering=r, at=NOW)
        for r in ("json", "text", "pdf")
    ]

    assert numbers == [1, 2, 3]
    assert prints.prints(payment_id) == 3
    assert [(p["print_number"], p["format"]) for p in prints.log(payment_id)] == [
        (1, "json"),
        (2, "text"),
        (3, "pdf"),
    ]


def test_concurrent_prints_never_share_a_number_so_only_one_is_the_original(
    prints: ReceiptPrintStore, payment_id: str
) -> None:
    numbers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def print_once(i: int) -> None:
        start.wait()
        number = prints.count_print(
            payment_id, device_id="dev-1", rendering="text", at=NOW + timedelta(seconds=i)
        )
        with lock:
            numbers.append(number)

    threads = [threading.Thread(target=print_once, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(numbers) == list(range(1, 9))
    assert prints.prints(payment_id) == 8


def test_the_print_log_cannot_be_rewritten(
    db: Database, prints: ReceiptPrintStore, payment_id: str
) -> None:
    prints.count_print(payment_id, device_id="dev-1", rendering="pdf", at=NOW)

    with pytest.raises(psycopg.Error), db.transaction() as conn:
        conn.execute("DELETE FROM receipt_prints WHERE payment_id = %s", (payment_id,))
    assert prints.prints(payment_id) == 1 and len(prints.log(payment_id)) == 1


def test_a_print_of_a_payment_the_ledger_does_not_hold_is_refused(
    prints: ReceiptPrintStore,
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        prints.count_print("pay_unknown", device_id="dev-1", rendering="json", at=NOW)
