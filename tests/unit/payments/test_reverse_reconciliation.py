"""The walk's judgement of DIGIT payments carrying our id against the ledger (pure), the scopes it
walks, and the chaos run's closing verdict."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from chaos.closing import closing_failures
from integrator.digit.errors import DigitForbidden
from integrator.digit.models import DigitPayment, DigitPaymentDetail
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.reconciliation_records import Finding
from integrator.payments.registration import PAYMENT_ID_KEY
from integrator.payments.reverse_reconciliation import (
    FindingKind,
    ReverseReconciler,
    Scope,
    day_range,
    judge,
    scopes_for,
)
from tests.unit.payments.payment_factories import make_line, make_payment

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def digit_payment(
    payment_id: str,
    *,
    id: str = "DP-1",
    bills: tuple[tuple[str, int], ...] = (("bill-1", 1200),),
    status: str = "NEW",
) -> DigitPayment:
    return DigitPayment(
        id=id,
        tenant_id="pb.amritsar",
        payment_mode="CASH",
        payment_status=status,
        instrument_status="CANCELLED" if status == "CANCELLED" else "APPROVED",
        total_amount_paid=Decimal(sum(a for _b, a in bills)),
        transaction_number=payment_id,
        transaction_date=NOW,
        paid_by="Ramesh",
        payer_name="Ramesh",
        mobile_number=None,
        additional_details={PAYMENT_ID_KEY: payment_id},
        details=tuple(
            DigitPaymentDetail(
                id=f"pd-{b}",
                bill_id=b,
                business_service="WS",
                receipt_number=f"R-{id}-{b}",
                receipt_date=NOW,
                total_due=Decimal(a),
                amount_paid=Decimal(a),
            )
            for b, a in bills
        ),
    )


def held(status: PaymentStatus, *, digit_id: str | None = "DP-1", **kw: object) -> Payment:
    return make_payment(
        id="pay-1",
        status=status,
        digit_payment_id=digit_id,
        bills=(make_line(bill_id="bill-1", amount=1200, total_due=1200),),
        **kw,
    )


def kinds(ours: dict[str, list[DigitPayment]], ledger: dict[str, Payment]) -> list[tuple[str, str]]:
    findings, _explained, _pending = judge(ours, ledger, module_of={})
    return [(f.kind.value, f.digit_payment_id) for f in findings]


def test_a_registered_payment_with_the_same_digit_payment_bills_and_amounts_is_explained() -> None:
    findings, explained, pending = judge(
        {"pay-1": [digit_payment("pay-1")]},
        {"pay-1": held(PaymentStatus.REGISTERED)},
        module_of={},
    )
    assert (findings, explained, pending) == ([], 1, 0)


@pytest.mark.parametrize(
    ("status", "resolution"),
    [
        (PaymentStatus.NEEDS_ATTENTION, None),
        (PaymentStatus.RESOLVED, "REFUNDED"),
    ],
)
def test_a_live_digit_payment_the_ledger_does_not_hold_as_registered_is_an_orphan(
    status: PaymentStatus, resolution: str | None
) -> None:
    ledger = {"pay-1": held(status, resolution=resolution)}
    assert kinds({"pay-1": [digit_payment("pay-1")]}, ledger) == [("ORPHAN", "DP-1")]


def test_an_id_the_ledger_never_held_is_an_orphan_with_no_ledger_status() -> None:
    findings, _, _ = judge({"pay-x": [digit_payment("pay-x")]}, {}, module_of={"DP-1": "WS"})
    [finding] = findings
    assert finding.kind is FindingKind.ORPHAN and finding.ledger_status is None
    assert finding.business_service == "WS" and finding.receipt_numbers == ("R-DP-1-bill-1",)


def test_receipted_by_hand_with_this_very_digit_payment_is_explained_and_pending_waits() -> None:
    by_hand = held(PaymentStatus.RESOLVED, resolution="RECEIPTED_BY_HAND")
    assert judge({"pay-1": [digit_payment("pay-1")]}, {"pay-1": by_hand}, module_of={})[1] == 1
    pending = held(PaymentStatus.PENDING, digit_id=None)
    assert judge({"pay-1": [digit_payment("pay-1")]}, {"pay-1": pending}, module_of={})[2] == 1


def test_two_live_digit_payments_carrying_one_id_flag_the_one_the_ledger_did_not_register() -> None:
    ours = {
        "pay-1": [
            digit_payment("pay-1", id="DP-1"),
            digit_payment("pay-1", id="DP-2", bills=(("bill-2", 1200),)),
        ]
    }
    assert kinds(ours, {"pay-1": held(PaymentStatus.REGISTERED)}) == [("DUPLICATE", "DP-2")]
    # not registered at all: both are extra charges
    assert kinds(ours, {"pay-1": held(PaymentStatus.NEEDS_ATTENTION)}) == [
        ("DUPLICATE", "DP-1"),
        ("DUPLICATE", "DP-2"),
    ]


def test_a_cancelled_digit_payment_is_not_judged() -> None:
    ours = {"pay-1": [digit_payment("pay-1", status="CANCELLED")]}
    assert kinds(ours, {"pay-1": held(PaymentStatus.NEEDS_ATTENTION)}) == []


@pytest.mark.parametrize(
    ("digit", "why"),
    [
        (digit_payment("pay-1", id="DP-9"), "the ledger registered DIGIT payment DP-1"),
        (digit_payment("pay-1", bills=(("bill-1", 1000),)), "bills or amounts differ"),
        (digit_payment("pay-1", bills=(("bill-7", 1200),)), "bills or amounts differ"),
    ],
)
def test_another_digit_payment_bill_or_amount_than_the_ledger_registered_differs(
    digit: DigitPayment, why: str
) -> None:
    findings, _, _ = judge(
        {"pay-1": [digit]}, {"pay-1": held(PaymentStatus.REGISTERED)}, module_of={}
    )
    [finding] = findings
    assert finding.kind is FindingKind.DIFFERS
    assert why in finding.detail["why"]


def test_the_walk_covers_every_city_we_collect_in_with_every_module() -> None:
    scopes = scopes_for(
        ledger_scopes=[("pb.amritsar", "WS"), ("pb.jalandhar", "PT")],
        device_tenants=["pb.nawanshahr", "xy"],
        cities_of=lambda state: ["xy.one", "xy.two"] if state == "xy" else [],
        modules=("WS", "SW"),
    )
    cities = {s.tenant_id for s in scopes}
    assert cities == {"pb.amritsar", "pb.jalandhar", "pb.nawanshahr", "xy.one", "xy.two"}
    assert {s.module for s in scopes} == {"WS", "SW", "PT"}
    assert Scope(tenant_id="pb.amritsar", module="PT") in scopes
    assert len(scopes) == 5 * 3


def test_days_are_digits_calendar_days() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start, end = day_range(date(2026, 11, 28), date(2026, 11, 29), kolkata)
    assert start.isoformat() == "2026-11-28T00:00:00+05:30"
    assert end.isoformat() == "2026-11-30T00:00:00+05:30"
    with pytest.raises(ValueError):
        day_range(date(2026, 11, 29), date(2026, 11, 28), kolkata)


def test_the_chaos_closing_fails_on_anything_left_open_or_found_by_the_walk() -> None:
    clean_walk = {"complete": True, "unsearchable": [], "findings": []}
    assert not any(closing_failures({"left_open": []}, clean_walk).values())
    failures = closing_failures(
        {"left_open": ["pay-1"]},
        {
            "complete": False,
            "unsearchable": ["pb.amritsar/TL"],
            "findings": [{"kind": "ORPHAN"}, {"kind": "DUPLICATE"}],
        },
    )
    assert {k: len(v) for k, v in failures.items()} == {
        "left_open": 1,
        "walk_orphan": 1,
        "walk_duplicate": 1,
        "walk_differs": 0,
        "walk_incomplete": 1,
    }


class WalkedDigit:
    """DIGIT's payments by date: none anywhere; the account may not search `unsearchable` (its
    roles say so) nor `refused` (the gateway answers 403), nor create in `not_collectable`."""

    def __init__(
        self, *, unsearchable: str = "", refused: str = "", not_collectable: str = ""
    ) -> None:
        self.unsearchable = unsearchable
        self.refused = refused
        self.not_collectable = not_collectable

    def payments_between(
        self, *, tenant_id: str, module: str, start: datetime, end: datetime
    ) -> tuple[list[DigitPayment], bool]:
        if f"{tenant_id}/{module}" == self.refused:
            raise DigitForbidden("Not authorized", tenants=[tenant_id])
        return [], False

    def may_search(self, module: str, tenant_id: str) -> bool | None:
        return False if f"{tenant_id}/{module}" == self.unsearchable else None

    def may_create(self, tenant_id: str) -> bool:
        return tenant_id != self.not_collectable


class NoFindings:
    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]:
        return []

    def record(self, finding: Finding, *, at: datetime) -> bool:
        return False

    def clear_unseen(
        self,
        *,
        scope: Scope,
        start: datetime,
        end: datetime,
        seen: Collection[tuple[str, str]],
        at: datetime,
    ) -> int:
        return 0


def _walk(digit: WalkedDigit) -> dict[str, object]:
    walker = ReverseReconciler(
        ledger=NoFindings(),
        digit=digit,
        findings=NoFindings(),
        clock=lambda: NOW,
        timezone=ZoneInfo("Asia/Kolkata"),
    )
    scopes = [
        Scope(tenant_id=t, module=m) for t in ("pb.amritsar", "pb.jalandhar") for m in ("WS", "TL")
    ]
    return walker.walk(first=date(2026, 11, 28), last=date(2026, 11, 28), scopes=scopes).summary()


@pytest.mark.parametrize(
    "digit",
    [WalkedDigit(unsearchable="pb.jalandhar/TL"), WalkedDigit(refused="pb.jalandhar/TL")],
    ids=["roles-say-no", "gateway-says-no"],
)
def test_a_walk_that_could_not_search_a_city_and_module_is_incomplete(digit: WalkedDigit) -> None:
    summary = _walk(digit)
    assert summary["unsearchable"] == ["pb.jalandhar/TL"] and summary["stopped_by"] is None
    assert summary["complete"] is False
    assert summary["scopes"] == ["pb.amritsar/WS", "pb.amritsar/TL", "pb.jalandhar/WS"]


def test_a_city_where_we_cannot_collect_leaves_the_walk_complete() -> None:
    # the account cannot create payments there: no DIGIT payment there can carry our id
    summary = _walk(WalkedDigit(not_collectable="pb.jalandhar"))
    assert summary["notCollectable"] == ["pb.jalandhar/WS", "pb.jalandhar/TL"]
    assert summary["complete"] is True and summary["run"] == "digit-walk"
