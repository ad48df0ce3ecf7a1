"""Receipts in the stores: the ledger's print count (revision 0005: atomic, never going back,
logged), DIGIT's facts cached in Redis, and the per-device lookup window."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from redis import Redis

from integrator.digit.models import Bill, BillAccountDetail, BillDetail
from integrator.payments.receipt_service import ReceiptFacts
from integrator.store import keys
from integrator.store.db import Database
from integrator.store.payments import PaymentStore
from integrator.store.receipts import ReceiptFactsCache, ReceiptLookupLimiter, ReceiptPrintStore
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


# --- Redis: DIGIT's facts cached, the lookup window ---


def test_cached_facts_come_back_exactly_and_per_city_and_module(redis: Redis) -> None:
    cache = ReceiptFactsCache(redis)
    bill = Bill(
        id="bill-1",
        bill_number="BILLNO-WS-000101",
        tenant_id="pb.amritsar",
        business_service="WS",
        consumer_code="WS/107/2019-20/000022",
        status="PAID",
        total_amount=Decimal("815"),
        bill_date=NOW,
        payer_name="Ramesh Kumar",
        details=(
            BillDetail(
                id="d-1",
                demand_id=None,
                from_period=NOW - timedelta(days=30),
                to_period=NOW,
                expiry_date=None,
                amount=Decimal("815"),
                account_details=(
                    BillAccountDetail(tax_head_code="WS_CHARGE", amount=Decimal("815.16"), order=1),
                    BillAccountDetail(
                        tax_head_code="WS_Round_Off", amount=Decimal("-0.16"), order=2
                    ),
                ),
            ),
        ),
    )
    facts = ReceiptFacts(
        receipt_number="11/2026-27/000123",
        payment_status="NEW",
        instrument_status="APPROVED",
        transaction_number="TXN-1",
        payer_name="Ramesh Kumar",
        bill=bill,
    )

    cache.put("pb.amritsar", "WS", facts, ttl_seconds=60)

    assert cache.get("pb.amritsar", "WS", facts.receipt_number) == facts
    assert cache.get("pb.amritsar", "SW", facts.receipt_number) is None
    assert cache.get("pb.jalandhar", "WS", facts.receipt_number) is None
    assert 0 < redis.pttl(keys.receipt_facts("pb.amritsar", "WS", facts.receipt_number)) <= 60_000


def test_the_lookup_window_is_per_device_and_apart_from_its_request_limit(redis: Redis) -> None:
    limiter = ReceiptLookupLimiter(redis)

    waits = [limiter.allow("dev-1", 3, NOW) for _ in range(4)]

    assert waits[:3] == [0, 0, 0] and waits[3] >= 1
    assert limiter.allow("dev-2", 3, NOW) == 0
    assert redis.exists(keys.device_rate("dev-1")) == 0
