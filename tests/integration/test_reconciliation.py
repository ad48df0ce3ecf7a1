"""Reconciliation and the settlement report against a real Redis (DIGIT faked by its search)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry

from integrator.digit.errors import DigitForbidden, DigitUnavailable
from integrator.digit.models import DigitPayment, DigitPaymentDetail
from integrator.observability import catalog
from integrator.observability.collector import IntegratorCollector
from integrator.observability.queues import QueueCounts, WorkerInfo
from integrator.observability.recorder import RedisMetrics
from integrator.payments import settlement, states
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.reconciliation import FLAGGED_EVENT, Reconciler
from integrator.payments.registration import PAYMENT_ID_KEY
from integrator.store.db import Database
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore
from tests.unit.payments.payment_factories import make_line, make_payment

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")


def digit_payment(
    payment: Payment, *, id: str = "DP-1", status: str = "NEW", ours: bool = True
) -> DigitPayment:
    return DigitPayment(
        id=id,
        tenant_id=payment.tenant_id,
        payment_mode="CASH",
        payment_status=status,
        instrument_status="APPROVED",
        total_amount_paid=payment.total_amount,
        transaction_number=payment.id,
        transaction_date=NOW,
        paid_by="x",
        payer_name="x",
        mobile_number=None,
        additional_details={PAYMENT_ID_KEY: payment.id if ours else "pay_other"},
        details=tuple(
            DigitPaymentDetail(
                id=f"pd-{b.bill_id}",
                bill_id=b.bill_id,
                business_service=b.business_service,
                receipt_number="RCPT",
                receipt_date=NOW,
                total_due=b.total_due,
                amount_paid=b.amount,
            )
            for b in payment.bills
        ),
    )


class FakeDigit:
    """DIGIT's payment search: what it holds per bill id, an outage, or modules whose search
    RBAC refuses our account."""

    def __init__(self) -> None:
        self.by_bill: dict[str, list[DigitPayment]] = {}
        self.down = False
        self.forbidden_modules: set[str] = set()
        self.calls = 0

    def search_payments(
        self,
        *,
        tenant_id: str,
        module: str,
        bill_ids: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
    ) -> list[DigitPayment]:
        self.calls += 1
        if self.down:
            raise DigitUnavailable("down", endpoint="search")
        if module in self.forbidden_modules:
            raise DigitForbidden("refused", tenants=[tenant_id], endpoint="search")
        found: dict[str, DigitPayment] = {}
        for bill_id in bill_ids:
            for p in self.by_bill.get(bill_id, []):
                found[p.id] = p
        return list(found.values())


def store_registered(
    store: PaymentStore,
    *,
    created_at: datetime = NOW,
    digit_payment_id: str | None = "DP-1",
    **overrides: Any,
) -> Payment:
    payment = make_payment(created_at=created_at, **overrides)
    assert store.create(payment).outcome.value == "CREATED"
    registered = states.transition(
        payment, PaymentStatus.REGISTERED, actor="test", reason="created", at=created_at
    )
    return store.save(replace(registered, digit_payment_id=digit_payment_id), fence=None)


@pytest.fixture
def store(db: Database) -> PaymentStore:
    return PaymentStore(db)


@pytest.fixture
def flags(db: Database) -> ReconciliationStore:
    return ReconciliationStore(db)


@pytest.fixture
def digit() -> FakeDigit:
    return FakeDigit()


@pytest.fixture
def reconciler(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, redis: redis_lib.Redis
) -> Reconciler:
    return Reconciler(
        payments=store,
        digit=digit,
        flags=flags,
        clock=lambda: NOW,
        on_flag=RedisMetrics(redis).reconciliation_flagged,
    )


def _line(n: int) -> Any:
    return make_line(bill_id=f"bill-{n}", consumer_code=f"WS/1/{n:06d}")


# --- reconciliation ---


def test_healthy_payment_is_not_flagged(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    payment = store_registered(store, bills=(_line(1),))
    digit.by_bill["bill-1"] = [digit_payment(payment)]

    report = reconciler.run(lookback=timedelta(days=7))

    assert report.checked == 1 and report.healthy == 1 and report.newly_flagged == []
    assert flags.count() == 0


@pytest.mark.parametrize(
    ("status", "reason"), [("CANCELLED", "CANCELLED"), ("DISHONOURED", "DISHONOURED")]
)
def test_cancelled_or_dishonoured_payment_is_flagged_and_stays_registered(
    status: str,
    reason: str,
    store: PaymentStore,
    flags: ReconciliationStore,
    digit: FakeDigit,
    reconciler: Reconciler,
    redis: redis_lib.Redis,
) -> None:
    payment = store_registered(store, bills=(_line(1),))
    digit.by_bill["bill-1"] = [digit_payment(payment, status=status)]

    report = reconciler.run(lookback=timedelta(days=7))

    assert report.newly_flagged == [payment.id]
    flag = flags.get(payment.id)
    assert flag is not None and flag.reason == reason and flag.digit_payment_id == "DP-1"
    stored = store.get(payment.id)
    assert stored is not None and stored.status is PaymentStatus.REGISTERED
    assert stored.history[-1].event == FLAGGED_EVENT and stored.history[-1].reason == reason
    assert RedisMetrics(redis).counters(catalog.RECONCILIATION_FLAGS) == [([reason], 1.0)]


@pytest.mark.parametrize(
    ("mode", "payment_status", "instrument_status", "reason"),
    [
        ("CASH", "DEPOSITED", "REMITTED", "REMITTED"),
        ("CHEQUE", "DEPOSITED", "REMITTED", "REMITTED"),
        # ONLINE and CARD payments are REMITTED at creation (digest 5.1): nothing to see
        ("CARD", "NEW", "REMITTED", None),
        ("CASH", "NEW", "APPROVED", None),
    ],
)
def test_a_cash_or_cheque_payment_remitted_in_digit_is_flagged_since_its_dues_reopen(
    mode: str,
    payment_status: str,
    instrument_status: str,
    reason: str | None,
    store: PaymentStore,
    flags: ReconciliationStore,
    digit: FakeDigit,
    reconciler: Reconciler,
) -> None:
    payment = store_registered(store, bills=(_line(1),))
    digit.by_bill["bill-1"] = [
        replace(
            digit_payment(payment, status=payment_status),
            payment_mode=mode,
            instrument_status=instrument_status,
        )
    ]

    report = reconciler.run(lookback=timedelta(days=7))

    flag = flags.get(payment.id)
    if reason is None:
        assert report.healthy == 1 and flag is None
    else:
        assert report.newly_flagged == [payment.id]
        assert flag is not None and flag.reason == reason and flag.digit_status == "DEPOSITED"
        stored = store.get(payment.id)
        assert stored is not None and stored.status is PaymentStatus.REGISTERED


def test_payment_missing_in_digit_is_flagged_once(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    payment = store_registered(store, bills=(_line(1),), digit_payment_id="DP-FAKE")
    # DIGIT holds someone else's payment for the bill, not ours
    digit.by_bill["bill-1"] = [digit_payment(payment, id="DP-2", ours=False)]

    first = reconciler.run(lookback=timedelta(days=7))
    second = reconciler.run(lookback=timedelta(days=7))

    assert first.newly_flagged == [payment.id] and second.still_flagged == [payment.id]
    assert flags.flagged_ids() == [payment.id]
    stored = store.get(payment.id)
    assert stored is not None
    assert [e.event for e in stored.history].count(FLAGGED_EVENT) == 1


def test_flag_is_cleared_when_digit_shows_the_payment_live_again(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    payment = store_registered(store, bills=(_line(1),))
    reconciler.run(lookback=timedelta(days=7))
    assert flags.is_flagged(payment.id)

    digit.by_bill["bill-1"] = [digit_payment(payment)]
    report = reconciler.run(lookback=timedelta(days=7))

    assert report.cleared == [payment.id] and not flags.is_flagged(payment.id)


def test_only_registered_payments_within_the_lookback_are_checked(
    store: PaymentStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    store_registered(store, bills=(_line(1),), created_at=NOW - timedelta(days=10))
    recent = store_registered(store, bills=(_line(2),), created_at=NOW - timedelta(days=1))
    store.create(make_payment(bills=(_line(3),)))  # PENDING: not reconciled

    report = reconciler.run(lookback=timedelta(days=7))

    assert report.checked == 1 and report.newly_flagged == [recent.id]


def test_run_stops_without_verdicts_when_digit_is_unavailable(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    store_registered(store, bills=(_line(1),))
    digit.down = True

    report = reconciler.run(lookback=timedelta(days=7))

    assert not report.complete and report.stopped_by == "DigitUnavailable"
    assert flags.count() == 0
    assert flags.last_run()["complete"] is False


def test_a_refused_search_leaves_its_payments_unjudged_and_the_run_goes_on_incomplete(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, reconciler: Reconciler
) -> None:
    # the newest payments are TL ones, whose search RBAC refuses our account; older ones are WS
    for n in (1, 2):
        store_registered(
            store,
            id=f"pay_tl{n}",
            bills=(make_line(bill_id=f"tl-{n}", consumer_code=f"TL-{n}", business_service="TL"),),
            created_at=NOW - timedelta(minutes=n),
        )
    healthy = store_registered(store, bills=(_line(1),), created_at=NOW - timedelta(hours=1))
    missing = store_registered(store, bills=(_line(2),), created_at=NOW - timedelta(hours=2))
    digit.by_bill["bill-1"] = [digit_payment(healthy)]
    digit.forbidden_modules = {"TL"}

    report = reconciler.run(lookback=timedelta(days=7))

    assert report.stopped_by is None and not report.complete
    assert report.checked == 2 and report.healthy == 1 and report.newly_flagged == [missing.id]
    assert report.errors == 2 and report.unsearchable == [f"{healthy.tenant_id}/TL"]
    assert not flags.is_flagged("pay_tl1") and not flags.is_flagged("pay_tl2")
    assert digit.calls == 1 + 2 * 2  # the refused scope is not asked again for pay_tl2
    assert flags.last_run()["unsearchable"] == [f"{healthy.tenant_id}/TL"]
    assert flags.last_run()["complete"] is False


class NoQueues:
    names: tuple[str, ...] = ()
    registration_queue = "registration"

    def workers(self) -> list[WorkerInfo]:
        return []

    def counts(self, queue: str) -> QueueCounts:
        raise AssertionError("no queues")


def test_metrics_tell_the_last_complete_run_of_each_kind_from_the_last_finished_one(
    store: PaymentStore, flags: ReconciliationStore, digit: FakeDigit, redis: redis_lib.Redis
) -> None:
    registry = CollectorRegistry()
    registry.register(
        IntegratorCollector(redis, ledger=store, reconciliation=flags, queues=NoQueues())
    )

    def stamps() -> dict[tuple[str, str], float | None]:
        return {
            (name, run): registry.get_sample_value(
                f"integrator_reconciliation_{name}_timestamp_seconds", {"run": run}
            )
            for name in ("last_run", "last_complete_run")
            for run in ("forward", "digit-walk")
        }

    assert set(stamps().values()) == {0.0}  # never ran: the alert's clock starts at zero
    store_registered(store, bills=(_line(1),))
    digit.by_bill["bill-1"] = []
    day = [NOW]
    reconciler = Reconciler(payments=store, digit=digit, flags=flags, clock=lambda: day[0])
    assert reconciler.run(lookback=timedelta(days=7)).complete
    complete_at = NOW.timestamp()

    # the next days: DIGIT refuses our search, then is down: runs finish, incomplete
    store_registered(
        store,
        id="pay_tl",
        bills=(make_line(bill_id="tl-1", consumer_code="TL-1", business_service="TL"),),
    )
    digit.forbidden_modules = {"TL"}
    day[0] = NOW + timedelta(days=1)
    assert not reconciler.run(lookback=timedelta(days=7)).complete
    digit.down = True
    day[0] = NOW + timedelta(days=2)
    assert not reconciler.run(lookback=timedelta(days=7)).complete
    # a walk saved its summary too (complete, but it says nothing of the forward check)
    flags.save_last_run({"run": "digit-walk", "complete": True, "finished_at_epoch": 5.0})

    assert stamps() == {
        ("last_run", "forward"): (NOW + timedelta(days=2)).timestamp(),
        ("last_complete_run", "forward"): complete_at,
        ("last_run", "digit-walk"): 5.0,
        ("last_complete_run", "digit-walk"): 5.0,
    }


# --- settlement rows over the real store ---


def _accepted(
    store: PaymentStore, n: int, at: datetime, device: str = "dev-1", bills: int = 1
) -> Payment:
    payment = make_payment(
        id=f"pay_{n:04d}",
        device_id=device,
        created_at=at,
        bills=tuple(
            make_line(bill_id=f"b{n}-{i}", consumer_code=f"C{n}-{i}", amount=Decimal("100") + i)
            for i in range(bills)
        ),
    )
    assert store.create(payment).outcome.value == "CREATED"
    return payment


def test_settlement_day_follows_the_settlement_time_zone(store: PaymentStore) -> None:
    # 18:29:59 UTC is 23:59:59 in Kolkata; 18:30 UTC is the next day there
    _accepted(store, 1, datetime(2026, 3, 30, 18, 29, 59, tzinfo=UTC))
    _accepted(store, 2, datetime(2026, 3, 30, 18, 30, 0, tzinfo=UTC))

    day30 = settlement.settlement_rows(store, date(2026, 3, 30), KOLKATA)
    day31 = settlement.settlement_rows(store, date(2026, 3, 31), KOLKATA)

    assert [r.payment_id for r in day30.rows] == ["pay_0001"]
    assert [r.payment_id for r in day31.rows] == ["pay_0002"]
    assert day31.rows[0].accepted_at.isoformat() == "2026-03-31T00:00:00+05:30"


def test_settlement_pages_cover_every_bill_once_even_with_equal_times(
    store: PaymentStore,
) -> None:
    same = datetime(2026, 3, 31, 6, 0, tzinfo=UTC)
    for n in range(1, 6):
        _accepted(store, n, same if n % 2 else same + timedelta(minutes=n), bills=n % 3 + 1)
    _accepted(store, 9, same, device="dev-2")
    expected = list(settlement.iter_settlement_rows(store, date(2026, 3, 31), KOLKATA, "dev-1"))

    rows: list[settlement.SettlementRow] = []
    cursor: str | None = None
    while True:
        page = settlement.settlement_rows(
            store, date(2026, 3, 31), KOLKATA, "dev-1", cursor=cursor, limit=2
        )
        rows += page.rows
        assert len(page.rows) <= 2
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [(r.payment_id, r.bill_id) for r in rows] == [
        (r.payment_id, r.bill_id) for r in expected
    ]
    assert len(rows) == sum(n % 3 + 1 for n in range(1, 6))
    assert {r.device_id for r in rows} == {"dev-1"}
    assert rows[0].amount == Decimal("100")


def test_a_foreign_cursor_is_refused(store: PaymentStore) -> None:
    with pytest.raises(settlement.InvalidCursor):
        settlement.settlement_rows(store, date(2026, 3, 31), KOLKATA, cursor="nope")
