"""The chaos checker: each failure kind is found; injected causes explain NEEDS_ATTENTION."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.check import check, table
from chaos.devices import plan

WS = ("pb.amritsar", "WS", "WS/CHAOS/000000")
PT = ("pb.amritsar", "PT", "PT-CHAOS-000004")


def make_stored(
    pid: str = "pay_1",
    *,
    status: str = "REGISTERED",
    reason: str | None = None,
    bill_id: str = "bill-1",
    amount: str = "221",
    consumer: tuple[str, ...] = WS,
) -> dict[str, Any]:
    return {
        "id": pid,
        "idempotency_key": f"key-{pid}",
        "status": status,
        "reason": reason,
        "tenant_id": consumer[0],
        "bills": [{"bill_id": bill_id, "amount": amount, "consumer": list(consumer)}],
    }


def make_digit(
    pid: str | None = "pay_1",
    *,
    bill_id: str = "bill-1",
    amount: Any = 221,
    digit_id: str = "d-1",
    counter: bool = False,
) -> dict[str, Any]:
    details: dict[str, Any] = (
        {"source": "sandbox-counter"} if counter else {"integratorPaymentId": pid}
    )
    return {
        "id": digit_id,
        "instrumentStatus": "APPROVED",
        "additionalDetails": details,
        "paymentDetails": [
            {"billId": bill_id, "totalAmountPaid": amount, "receiptNumber": f"R-{digit_id}"}
        ],
    }


def make_answer(pid: str = "pay_1", *, accepted: bool = True) -> dict[str, Any]:
    return {"key": f"key-{pid}", "payment_ids": [pid], "accepted": accepted}


def run(
    answers: list[Any] | None = None,
    stored: list[Any] | None = None,
    digit: list[Any] | None = None,
    **injected: Any,
) -> dict[str, Any]:
    return check(
        answers=answers if answers is not None else [make_answer()],
        stored=stored if stored is not None else [make_stored()],
        digit=digit if digit is not None else [make_digit()],
        injected=injected,
    )


def test_a_registered_payment_with_its_one_receipt_passes() -> None:
    verdict = run()
    assert verdict["ok"], verdict["failures"]
    assert verdict["accepted"] == 1 and verdict["statuses"] == {"REGISTERED": 1}


def test_an_accepted_payment_missing_from_the_store_is_lost() -> None:
    verdict = run(answers=[make_answer("pay_9")])
    assert verdict["counts"]["lost"] == 1 and not verdict["ok"]


def test_two_live_payments_on_one_bill_are_a_duplicate() -> None:
    verdict = run(digit=[make_digit(), make_digit(digit_id="d-2")])
    assert verdict["counts"]["duplicated"] >= 1 and not verdict["ok"]


def test_one_key_answered_with_two_payment_ids_is_a_duplicate() -> None:
    answer = {"key": "k", "payment_ids": ["pay_1", "pay_2"], "accepted": True}
    verdict = run(
        answers=[answer],
        stored=[make_stored(), make_stored("pay_2", bill_id="b2")],
        digit=[make_digit(), make_digit("pay_2", bill_id="b2", digit_id="d-2")],
    )
    assert verdict["counts"]["duplicated"] == 1


def test_a_digit_payment_nobody_accepted_is_an_orphan_but_counter_payments_are_not() -> None:
    verdict = run(
        digit=[
            make_digit(),
            make_digit("pay_x", bill_id="b9", digit_id="d-9"),
            make_digit(None, bill_id="b8", digit_id="d-8", counter=True),
        ]
    )
    assert verdict["counts"]["orphan"] == 1
    assert verdict["digit_counter_payments"] == 1


@pytest.mark.parametrize(
    ("amount", "bill_id", "why"),
    [
        (200, "bill-1", "DIGIT has 200"),
        (221, "bill-other", "no DIGIT receipt"),
    ],
)
def test_a_registered_payment_must_match_digit(amount: int, bill_id: str, why: str) -> None:
    verdict = run(digit=[make_digit(amount=amount, bill_id=bill_id)])
    assert verdict["counts"]["wrong"] == 1
    assert why in verdict["failures"]["wrong"][0]["why"]


@pytest.mark.parametrize(
    ("reason", "injected", "explained"),
    [
        ("BILL_PAID_ELSEWHERE", {"counter": [WS]}, True),
        ("BILL_PAID_ELSEWHERE", {"counter": [PT]}, False),
        ("BILL_PAID_ELSEWHERE", {"demand": [WS]}, False),
        ("BILL_EXPIRED_TOTAL_CHANGED", {"demand": [WS]}, True),
        ("BILL_EXPIRED_TOTAL_CHANGED", {"counter": [WS]}, False),
        ("RETRIES_EXHAUSTED", {"counter": [WS], "demand": [WS]}, False),
        ("DIGIT_REJECTED", {}, False),
    ],
)
def test_needs_attention_is_explained_only_by_its_injected_cause(
    reason: str, injected: dict[str, Any], explained: bool
) -> None:
    verdict = run(
        stored=[make_stored(status="NEEDS_ATTENTION", reason=reason)], digit=[], **injected
    )
    assert verdict["ok"] is explained, verdict["failures"]
    assert verdict["needs_attention"] == {reason: 1}


def test_needs_attention_while_digit_holds_our_payment_is_unexplained() -> None:
    stored = [make_stored(status="NEEDS_ATTENTION", reason="BILL_PAID_ELSEWHERE")]
    verdict = run(stored=stored, counter=[WS])
    assert verdict["counts"]["unexplained"] == 1


def test_a_payment_left_pending_is_stuck() -> None:
    verdict = run(stored=[make_stored(status="PENDING")], digit=[])
    assert verdict["counts"]["stuck"] == 1 and not verdict["ok"]


def test_the_plan_is_deterministic_and_gives_every_payment_its_own_consumers() -> None:
    first, needed = plan(200, seed=7)
    again, _ = plan(200, seed=7)
    assert first == again
    consumers = [c for p in first for c in p.consumers]
    assert len(consumers) == len(set(consumers)) <= needed
    assert all(c[0] == p.tenant for p in first for c in p.consumers)
    assert {p.mode for p in first} == {"CASH", "CARD", "CHEQUE"}
    assert any(len(p.consumers) > 1 for p in first) and any(p.partial for p in first)


def test_the_table_names_every_failure_kind() -> None:
    result = {
        "verdict": run(),
        "planned": 1,
        "faults": {"digit_down": 1},
        "devices": {
            "outcomes": {"accepted_201": 1},
            "requests": 2,
            "retries": 1,
            "timeouts": 0,
            "http": {"POST 201": 1},
            "internal_errors_500": {"other": 0},
        },
        "processes": {"restarts": {}},
        "drain_seconds": 1.0,
        "duration_seconds": 9.0,
    }
    text = table(result)
    for label in ("lost", "duplicated", "unexplained", "PASS"):
        assert label in text


def test_a_refused_payment_passes_when_the_device_was_told_and_a_counter_paid_the_bill() -> None:
    verdict = run(
        answers=[make_answer(accepted=False)],
        stored=[make_stored(status="REFUSED", reason="BILL_ALREADY_PAID")],
        digit=[make_digit(None, counter=True)],
        counter=[WS],
    )
    assert verdict["ok"], verdict["failures"]
    assert verdict["needs_attention"] == {"REFUSED BILL_ALREADY_PAID": 1}


def test_a_refused_payment_the_device_was_told_was_accepted_is_lost() -> None:
    verdict = run(
        answers=[make_answer(accepted=True)],
        stored=[make_stored(status="REFUSED", reason="BILL_ALREADY_PAID")],
        digit=[make_digit(None, counter=True)],
        counter=[WS],
    )
    assert verdict["counts"]["lost"] == 1 and not verdict["ok"]


@pytest.mark.parametrize(
    ("digit", "counter", "kind"),
    [
        ([make_digit()], [WS], "wrong"),  # DIGIT holds it after all
        ([], [], "unexplained"),  # nothing the run did explains the refusal
    ],
)
def test_a_refused_payment_digit_holds_or_nothing_explains_fails(
    digit: list[Any], counter: list[Any], kind: str
) -> None:
    verdict = run(
        answers=[make_answer(accepted=False)],
        stored=[make_stored(status="REFUSED", reason="BILL_ALREADY_PAID")],
        digit=digit,
        counter=counter,
    )
    assert verdict["counts"][kind] == 1 and not verdict["ok"]


def test_a_refusal_for_an_expired_bill_is_explained_by_the_clock_jump() -> None:
    stored = [make_stored(status="REFUSED", reason="DIGIT_REFUSED_PAYMENT")]
    stored[0]["codes"] = ["BILL_EXPIRED"]
    answers = [make_answer(accepted=False)]
    assert run(answers=answers, stored=stored, digit=[], clock_jump=1)["ok"]
    assert not run(answers=answers, stored=stored, digit=[], clock_jump=0)["ok"]
