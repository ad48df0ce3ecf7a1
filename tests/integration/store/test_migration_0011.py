"""Revision 0011 on a real PostgreSQL: hand-overs recorded before it are linked to the payments
they settled, by time, so a payment reversed after its hand-over stays the cashier's; a payment
is handed over once; the revision goes down to 0010 and up again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import redis as redis_lib

from integrator.payments import states
from integrator.payments.cash_records import Holding, Scope
from integrator.payments.models import Payment, PaymentStatus
from integrator.store import migrations
from integrator.store.cash import CashStore
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from tests.integration.store.test_migration_0003 import _alembic
from tests.unit.payments.payment_factories import make_line, make_payment

T0 = datetime(2026, 3, 31, 5, 0, tzinfo=UTC)
FAR = datetime(9999, 1, 1, tzinfo=UTC)


def _paid(store: PaymentStore, device_id: str, amount: int, at: datetime, n: int) -> Payment:
    payment = make_payment(
        device_id=device_id,
        created_at=at,
        bills=(make_line(consumer_code=f"C-{n}", amount=amount, total_due=amount),),
    )
    assert store.create(payment).outcome.value == "CREATED"
    moved = states.transition(
        replace(payment, version=0), PaymentStatus.REGISTERED, actor="w", reason="ok", at=at
    )
    return store.save(moved, fence=None)


def _cancel(store: PaymentStore, payment: Payment, at: datetime) -> None:
    moved = states.transition(payment, PaymentStatus.CANCELLED, actor="op", reason="x", at=at)
    store.save(moved, fence=None)


def test_hand_overs_made_before_0011_are_linked_by_time_and_0011_goes_down_and_up(
    db: Database, redis: redis_lib.Redis, database_url: str
) -> None:
    device, _key = DeviceStore(db, redis).add("field-1", ["pb.amritsar"])
    payments = PaymentStore(db)
    handed = _paid(payments, device.id, 815, T0, 1)
    reversed_in_hand = _paid(payments, device.id, 100, T0 + timedelta(minutes=30), 2)
    _cancel(payments, reversed_in_hand, T0 + timedelta(minutes=45))
    later = _paid(payments, device.id, 400, T0 + timedelta(hours=2), 3)
    _cancel(payments, handed, T0 + timedelta(hours=3))
    db.close()

    _alembic(database_url, "downgrade", "0010")
    with psycopg.connect(database_url) as conn:  # a hand-over as 0007's code recorded it
        conn.execute(
            "INSERT INTO cash_handovers (id, device_id, tenant_id, payment_mode, expected,"
            " counted, cashier, at) VALUES ('ho_old', %s, 'pb.amritsar', 'CASH', 815, 815, 'c',"
            " %s)",
            (device.id, T0 + timedelta(hours=1)),
        )
    _alembic(database_url, "upgrade", "head")

    assert migrations.current_revision(database_url) == migrations.head_revision()
    with psycopg.connect(database_url) as conn:
        links = conn.execute(
            "SELECT payment_id, handover_id FROM cash_handover_payments"
        ).fetchall()
        assert links == [(handed.id, "ho_old")]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO cash_handover_payments VALUES (%s, 'ho_old')", (handed.id,))
    after = Database.connect(database_url, max_size=2)
    cash = CashStore(after)
    assert cash.in_hand(Scope.DEVICE, device.id, FAR) == [
        Holding(tenant_id="pb.amritsar", payment_mode="CASH", amount=Decimal(400))
    ]
    [day] = cash.sums(Scope.DEVICE, device.id, T0, T0 + timedelta(days=1))
    assert (day.cancelled, day.cancelled_after_handover) == (Decimal(915), Decimal(815))
    assert [p.payment_id for p in cash.held_payments(device.id, ["CASH"])] == [later.id]
