"""Domain values: payment totals and consumer keys, device scopes, and the store codec (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from integrator.payments import states
from integrator.payments.devices import Device, InvalidTenantScope, normalise_scopes, scope_covers
from integrator.payments.models import ConsumerKey, PaymentStatus
from integrator.store import codec
from tests.unit.payments.payment_factories import NOW, make_bill, make_line, make_payment


def test_total_amount_and_consumer_keys() -> None:
    payment = make_payment(
        bills=(
            make_line(bill_id="b1", consumer_code="C1", amount="100.00"),
            make_line(bill_id="b2", consumer_code="C2", amount=250),
            make_line(bill_id="b3", consumer_code="C1", business_service="SW", amount=5),
        )
    )
    assert payment.total_amount == Decimal("355.00")
    assert payment.consumer_keys == (
        ConsumerKey("pb.amritsar", "WS", "C1"),
        ConsumerKey("pb.amritsar", "WS", "C2"),
        ConsumerKey("pb.amritsar", "SW", "C1"),
    )
    assert payment.bill_ids == ("b1", "b2", "b3")


def test_duplicate_consumers_hold_one_lock() -> None:
    payment = make_payment(bills=(make_line(bill_id="b1"), make_line(bill_id="b2")))
    assert len(payment.consumer_keys) == 1


@pytest.mark.parametrize(
    ("mobile", "last4"),
    [("9876543210", "3210"), (None, None), ("12", None), ("+91 98765 43210", "3210")],
)
def test_mobile_last4(mobile: str | None, last4: str | None) -> None:
    assert make_payment(mobile_number=mobile).mobile_last4 == last4


@pytest.mark.parametrize(
    ("scope", "tenant", "covers"),
    [
        ("pb", "pb", True),
        ("pb", "pb.amritsar", True),
        ("pb", "PB.Amritsar", True),
        ("pb", "pbx.amritsar", False),
        ("pb", "hr.gurgaon", False),
        ("pb.amritsar", "pb.amritsar", True),
        ("pb.amritsar", "pb.jalandhar", False),
        ("pb.amritsar", "pb", False),
        ("pb.amritsar", "pb.amritsar.x", False),
        ("pb", "", False),
    ],
)
def test_scope_covers(scope: str, tenant: str, covers: bool) -> None:
    assert scope_covers(scope, tenant) is covers


def test_device_may_act_only_for_its_scopes_and_not_when_revoked() -> None:
    device = Device(id="d", name="n", tenants=("pb.amritsar", "hr"), key_hash="h", created_at=NOW)
    assert device.may_act_for("pb.amritsar") and device.may_act_for("hr.gurgaon")
    assert not device.may_act_for("pb.jalandhar")
    revoked = Device(id="d", name="n", tenants=("pb",), key_hash="h", created_at=NOW, revoked=True)
    assert not revoked.may_act_for("pb.amritsar")


@pytest.mark.parametrize("bad", [[], ["PB AMRITSAR"], ["pb.amritsar.x"], ["*"], [""]])
def test_invalid_scopes_are_refused(bad: list[str]) -> None:
    with pytest.raises(InvalidTenantScope):
        normalise_scopes(bad)


def test_scopes_are_normalised() -> None:
    assert normalise_scopes([" PB.Amritsar", "pb", "pb"]) == ("pb", "pb.amritsar")


def test_payment_round_trips_through_the_codec_exactly() -> None:
    ist = ZoneInfo("Asia/Kolkata")
    payment = make_payment(
        bills=(
            make_line(
                bill_id="b1",
                amount="100.00",
                total_due="1200",
                receipt_number="03/2025-26/000001",
                receipt_date=datetime(2026, 3, 31, 17, 0, tzinfo=ist),
                retargeted_from="b0",
                balance_left=Decimal("1100.00"),
            ),
        ),
        payment_mode="CHEQUE",
        instrument_number="000123",
        instrument_date=date(2026, 3, 30),
        targeted_bill_ids=frozenset({"b0", "b1"}),
        create_sent=True,
        provisional=True,
        version=3,
    )
    payment = states.transition(
        payment,
        PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="r",
        at=NOW,
        codes=["X"],
        latency_ms=5,
        detail={"amount": Decimal("100.00"), "ids": ["b1"]},
    )
    back = codec.load_payment(codec.dump_payment(payment))
    assert back == payment
    assert str(back.bills[0].amount) == "100.00"
    assert str(back.bills[0].balance_left) == "1100.00"


def test_bill_round_trips_through_the_codec_exactly() -> None:
    bill = make_bill(total="1200.40")
    back = codec.load_bill(codec.dump_bill(bill))
    assert back == bill
    assert str(back.details[0].account_details[1].amount) == "0.40"
    assert back.expires_at == bill.expires_at


def test_device_round_trips_and_naive_times_are_refused() -> None:
    device = Device(
        id="d",
        name="n",
        tenants=("pb",),
        key_hash="h",
        created_at=NOW,
        revoked=True,
        revoked_at=NOW + timedelta(days=1),
    )
    assert codec.load_device(codec.dump_device(device)) == device
    with pytest.raises(codec.CodecError):
        codec.dump_payment(make_payment(created_at=datetime(2026, 1, 1)))
