"""Cash in hand and the collector's day on a real ledger, when payments are reversed before and
after their money was handed over: a reversal takes the money from whoever held it then, so cash
in hand never goes below zero, and a reversal of money handed over already shows on the day it
happened as the cashier's (as the settlement report's REVERSAL row does)."""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib

from integrator.payments import states
from integrator.payments.cash import CashBook, CashRefused, Holding, LimitDefaults
from integrator.payments.cash_records import LimitOverrides, Scope
from integrator.payments.day_close import DayClose, report_csv
from integrator.payments.devices import Device
from integrator.payments.models import Payment, PaymentRejected, PaymentStatus
from integrator.payments.settlement import iter_settlement_rows
from integrator.payments.use_cases import BillLine, PaymentRequest
from integrator.store.cash import CashStore
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.offline import OfflineStore
from integrator.store.payments import PaymentStore
from tests.unit.payments.payment_factories import make_line, make_payment

IST = ZoneInfo("Asia/Kolkata")
DAY_1, DAY_2 = date(2026, 3, 31), date(2026, 4, 1)
MORNING_1 = datetime(2026, 3, 31, 5, 0, tzinfo=UTC)  # 10:30 in Amritsar
MORNING_2 = datetime(2026, 4, 1, 5, 0, tzinfo=UTC)
AMRITSAR = "pb.amritsar"
_numbers = count(1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.delay = 0.0  # seconds each reading takes

    def __call__(self) -> datetime:
        time.sleep(self.delay)
        return self.now


@dataclass
class Ledger:
    payments: PaymentStore
    cash: CashBook
    days: DayClose
    device: Device
    clock: Clock

    def collect(self, mode: str, amount: int, at: datetime) -> Payment:
        """A payment of the device, registered in DIGIT, accepted at `at`."""
        n = next(_numbers)
        instrument: dict[str, Any] = {}
        if mode in ("CHEQUE", "DD"):
            instrument = {"instrument_number": f"{n:06d}", "instrument_date": at.date()}
        payment = make_payment(
            device_id=self.device.id,
            created_at=at,
            payment_mode=mode,
            bills=(make_line(consumer_code=f"C-{n}", amount=amount, total_due=amount),),
            **instrument,
        )
        assert self.payments.create(payment).outcome.value == "CREATED"
        return self.move(replace(payment, version=0), PaymentStatus.REGISTERED, at)

    def move(self, payment: Payment, to: PaymentStatus, at: datetime) -> Payment:
        stored = self.payments.get(payment.id) or payment
        moved = states.transition(stored, to, actor="op", reason=to.value.lower(), at=at)
        return self.payments.save(moved, fence=None)

    def hand_over(self, at: datetime, **counted: int) -> None:
        self.clock.now = at
        self.cash.handover(
            device_name=self.device.name,
            counted={mode: Decimal(amount) for mode, amount in counted.items()},
            cashier="carol",
        )

    def figures(self, day: date) -> dict[str, Any]:
        return self.days.figures(Scope.DEVICE, self.device.id, day)


@pytest.fixture
def ledger(db: Database, redis: redis_lib.Redis) -> Ledger:
    devices = DeviceStore(db, redis)
    device, _key = devices.add("field-8", [AMRITSAR])
    clock = Clock(MORNING_1)
    store = CashStore(db)
    cash = CashBook(
        defaults=LimitDefaults(
            offline_max_age_seconds=3600,
            offline_cash_limit=Decimal(5000),
            cash_in_hand_cap=Decimal(0),
        ),
        store=store,
        offline=OfflineStore(db),
        devices=devices.get_by_name,
        accepted=lambda device_id, key: None,
        clock=clock,
    )
    days = DayClose(store=store, devices=devices.get_by_name, timezone=IST, clock=clock)
    return Ledger(PaymentStore(db), cash, days, device, clock)


def only_row(figures: dict[str, Any]) -> dict[str, Any]:
    [row] = figures["modes"]
    return row


def test_a_cheque_dishonoured_after_its_hand_over_is_the_cashiers_on_the_day_it_bounced(
    ledger: Ledger,
) -> None:
    cheque = ledger.collect("CHEQUE", 815, MORNING_1)
    ledger.hand_over(MORNING_1 + timedelta(hours=2), CHEQUE=815)
    assert ledger.cash.in_hand(ledger.device.id) == []

    ledger.move(cheque, PaymentStatus.DISHONOURED, MORNING_2)

    # the collector gave that cheque away yesterday: he holds nothing, not -815
    assert ledger.cash.in_hand(ledger.device.id) == []
    with pytest.raises(CashRefused) as refused:  # and nothing is expected of him
        ledger.hand_over(MORNING_2 + timedelta(hours=1), CHEQUE=0)
    assert refused.value.code == "NOTHING_TO_HAND_OVER"
    day_1 = only_row(ledger.figures(DAY_1))
    assert (day_1["collected"], day_1["settled"], day_1["outstanding"]) == (815, 815, 0)
    bounced = ledger.figures(DAY_2)
    day_2 = only_row(bounced)
    assert (day_2["cancelled"], day_2["cancelledCount"]) == (Decimal(815), 1)
    assert (day_2["cancelledAfterHandover"], day_2["cancelledAfterHandoverCount"]) == (815, 1)
    assert day_2["outstanding"] == 0 and day_2["settled"] == 0
    assert bounced["totals"]["cancelledAfterHandover"] == Decimal(815)
    [reversal] = bounced["reversalsAfterHandover"]
    handover = ledger.figures(DAY_1)["handovers"][0]
    assert reversal["paymentId"] == cheque.id and reversal["handoverId"] == handover["id"]
    assert (reversal["amount"], reversal["reversal"]) == (Decimal(815), "DISHONOURED")
    # the settlement report's REVERSAL row of that day is the same money
    rows = list(iter_settlement_rows(ledger.payments, DAY_2, IST, ledger.device.id))
    assert [(r.entry, r.amount) for r in rows] == [("REVERSAL", Decimal(-815))]
    assert sum(r.amount for r in rows) == -day_2["cancelled"]
    [csv_row] = csv.DictReader(
        io.StringIO(report_csv(ledger.days.report(Scope.DEVICE, ledger.device.id, DAY_2)))
    )
    assert csv_row["cancelledAfterHandover"] == "815" and csv_row["outstanding"] == "0"


def test_cash_cancelled_before_its_hand_over_leaves_the_collectors_hands(
    ledger: Ledger,
) -> None:
    kept = ledger.collect("CASH", 300, MORNING_1)
    cancelled = ledger.collect("CASH", 500, MORNING_1 + timedelta(minutes=5))
    ledger.move(cancelled, PaymentStatus.CANCELLED, MORNING_1 + timedelta(hours=1))

    assert ledger.cash.in_hand(ledger.device.id) == [
        Holding(tenant_id=AMRITSAR, payment_mode="CASH", amount=Decimal(300))
    ]
    row = only_row(ledger.figures(DAY_1))
    assert (row["cancelled"], row["cancelledAfterHandover"], row["outstanding"]) == (500, 0, 300)
    ledger.hand_over(MORNING_1 + timedelta(hours=2), CASH=300)  # exact: no reason needed
    assert ledger.cash.in_hand(ledger.device.id) == []
    assert kept.total_amount == 300


def test_only_what_was_still_in_hand_leaves_it_when_both_are_reversed(ledger: Ledger) -> None:
    handed = ledger.collect("CASH", 815, MORNING_1)
    ledger.hand_over(MORNING_1 + timedelta(hours=1), CASH=815)
    later = ledger.collect("CASH", 400, MORNING_1 + timedelta(hours=2))
    ledger.move(handed, PaymentStatus.CANCELLED, MORNING_1 + timedelta(hours=3))
    ledger.move(later, PaymentStatus.CANCELLED, MORNING_1 + timedelta(hours=4))

    assert ledger.cash.in_hand(ledger.device.id) == []
    row = only_row(ledger.figures(DAY_1))
    assert (row["collected"], row["cancelled"], row["cancelledAfterHandover"]) == (1215, 1215, 815)
    # yesterday's outstanding + collected - (cancelled - cancelled after hand-over) - settled
    assert row["outstanding"] == 0 == 1215 - (1215 - 815) - row["settled"]
    assert [r["paymentId"] for r in ledger.figures(DAY_1)["reversalsAfterHandover"]] == [handed.id]


def cash_request(amount: int) -> PaymentRequest:
    return PaymentRequest(
        tenant_id=AMRITSAR,
        payment_mode="CASH",
        paid_by="Ramesh Kumar",
        bills=(BillLine(bill_id="b-next", amount=Decimal(amount)),),
    )


def test_cash_reversed_after_its_hand_over_makes_no_room_under_the_cap(ledger: Ledger) -> None:
    ledger.cash.set_limits(ledger.device.name, LimitOverrides(cash_in_hand_cap=Decimal(1000)))
    paid = ledger.collect("CASH", 815, MORNING_1)
    ledger.hand_over(MORNING_1 + timedelta(hours=1), CASH=815)
    ledger.move(paid, PaymentStatus.CANCELLED, MORNING_1 + timedelta(hours=2))

    ledger.cash.require_room(ledger.device, cash_request(1000), None)  # up to the cap
    with pytest.raises(PaymentRejected) as refused:
        ledger.cash.require_room(ledger.device, cash_request(1001), None)
    assert [v.code for v in refused.value.violations] == ["CASH_IN_HAND_CAP_REACHED"]


# --- two hand-overs of the same cash at once ---


@pytest.mark.parametrize(
    ("counted", "reason"),
    [(815, None), (800, "a torn note")],  # exact, or a shortfall whose reason is sent twice
)
def test_the_same_cash_handed_over_at_once_is_settled_once_and_the_others_are_refused(
    ledger: Ledger, db: Database, counted: int, reason: str | None
) -> None:
    ledger.collect("CASH", 815, MORNING_1)
    # a clock that takes its time: whatever a hand-over does between reading what the device
    # holds and recording it, the others have time to do the same
    ledger.clock.delay = 0.3
    ledger.clock.now = MORNING_1 + timedelta(hours=1)
    start = threading.Barrier(4)
    refused: list[str] = []

    def hand_over() -> None:
        start.wait(timeout=10)
        try:
            ledger.cash.handover(
                device_name=ledger.device.name,
                counted={"CASH": Decimal(counted)},
                cashier="carol",
                reason=reason,
            )
        except CashRefused as exc:
            refused.append(exc.code)
        except Exception as exc:  # anything else is a failure of this test, named
            refused.append(type(exc).__name__)

    threads = [threading.Thread(target=hand_over) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert refused == ["NOTHING_TO_HAND_OVER"] * 3
    assert ledger.cash.in_hand(ledger.device.id) == []
    figures = ledger.figures(DAY_1)
    [handover] = figures["handovers"]
    assert (handover["expected"], handover["counted"]) == (Decimal(815), Decimal(counted))
    assert only_row(figures)["outstanding"] == 0
