"""Offline marks, hand-overs and closed days in the ledger (revision 0007): the rules hold as
constraints, whatever the code above them does."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
import redis as redis_lib

from integrator.payments.cash_records import HandoverEntry
from integrator.store.cash import CashStore, DayAlreadyClosed, Scope
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.offline import LimitOverrides, OfflineStore
from integrator.store.payments import PaymentStore
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

DAY = date(2026, 3, 31)


def _device(db: Database, redis: redis_lib.Redis) -> str:
    device, _key = DeviceStore(db, redis).add("field-1", ["pb.amritsar"])
    return device.id


def entry(*, expected: int, counted: int, reason: str | None = None) -> HandoverEntry:
    return HandoverEntry(
        tenant_id="pb.amritsar", payment_mode="CASH", expected=Decimal(expected),
        counted=Decimal(counted), reason=reason, cashier="c", at=NOW, payment_ids=(),
    )  # fmt: skip


def test_a_counted_amount_unlike_the_expected_one_needs_a_reason_in_the_ledger(
    db: Database, redis: redis_lib.Redis
) -> None:
    device_id = _device(db, redis)
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction() as conn:
        conn.execute(
            "INSERT INTO cash_handovers (id, device_id, tenant_id, payment_mode, expected,"
            " counted, reason, cashier, at) VALUES ('h1', %s, 'pb.amritsar', 'CASH', 100, 90,"
            " '  ', 'c', now())",
            (device_id,),
        )
    [recorded] = CashStore(db).settle(
        device_id, ["CASH"], lambda held: [entry(expected=100, counted=90, reason="short")]
    )
    assert recorded.difference == Decimal(-10)
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE cash_handovers SET counted = 100")


def test_a_day_is_closed_once_and_its_stored_figures_never_change(
    db: Database, redis: redis_lib.Redis
) -> None:
    store = CashStore(db)
    store.close_day(Scope.DEVICE, "dev-1", DAY, figures={"n": Decimal(5)}, closed_by="c", at=NOW)

    with pytest.raises(DayAlreadyClosed):
        store.close_day(Scope.DEVICE, "dev-1", DAY, figures={"n": 6}, closed_by="c", at=NOW)
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE day_closes SET figures = '{}'")
    closed = store.closed_day(Scope.DEVICE, "dev-1", DAY)
    assert closed is not None and closed[2] == {"n": Decimal(5)}
    # another device, or the city, closes the same day on its own
    store.close_day(Scope.CITY, "pb.amritsar", DAY, figures={}, closed_by="c", at=NOW)


def test_collected_and_handed_over_sum_by_city_and_mode(
    db: Database, redis: redis_lib.Redis
) -> None:
    payment = make_payment(device_id="dev-9", bills=(make_line(amount=Decimal(500)),))
    assert PaymentStore(db).create(payment).outcome.value == "CREATED"
    store = CashStore(db)
    store.settle(_device(db, redis), ["CASH"], lambda held: [entry(expected=0, counted=0)])

    [sums] = store.sums(Scope.DEVICE, "dev-9", NOW - timedelta(days=1), NOW + timedelta(days=1))

    assert (sums.tenant_id, sums.payment_mode) == (payment.tenant_id, payment.payment_mode)
    assert sums.collected == Decimal(500) and sums.collected_count == 1
    assert store.sums(Scope.DEVICE, "dev-9", NOW + timedelta(days=1), NOW + timedelta(days=2)) == []


def test_a_payment_is_marked_offline_once_and_limits_fall_back_per_column(
    db: Database, redis: redis_lib.Redis
) -> None:
    payment = make_payment()
    assert PaymentStore(db).create(payment).outcome.value == "CREATED"
    offline = OfflineStore(db)
    for _ in range(2):
        offline.mark(payment, request_fingerprint="fp", collected_at=NOW - timedelta(hours=2),
                     detail={})  # fmt: skip
    assert list(offline.marks([payment.id])) == [payment.id]
    device_id = _device(db, redis)
    offline.set_limits(device_id, LimitOverrides(cash_in_hand_cap=Decimal(900)), now=NOW)
    assert offline.limits_for(device_id) == LimitOverrides(cash_in_hand_cap=Decimal(900))
