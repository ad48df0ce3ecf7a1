"""The hold-creates fault: a `_create` that commits after the client was told it timed out.

(Corrections 10.) The gateway gives up after `gateway_timeout_seconds`; the create commits after
`hold_seconds` anyway, unless its bill id got a payment row meanwhile.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tests.sandbox.conftest import AMRITSAR, Digit, body_of, codes

HOLD = {"hold_creates": 1, "hold_seconds": 1.5, "gateway_timeout_seconds": 0.3}


def by_bill(digit: Digit, bill_id: str) -> list[dict[str, Any]]:
    response = digit.post(
        "/collection-services/payments/WS/_search", tenantId=AMRITSAR, billIds=bill_id
    )
    return body_of(response)["Payments"]  # type: ignore[no-any-return]


def wait_for_counter(digit: Digit, name: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while digit.get("counters").get(name, 0) < 1:
        assert time.monotonic() < deadline, f"{name} never happened"
        time.sleep(0.1)


def test_a_held_create_answers_the_gateway_timeout_then_commits_late(digit: Digit) -> None:
    bill = digit.bill()
    faults = digit.admin("faults", HOLD)
    assert faults["hold_creates"] == 1 and faults["hold_phase"] == "before_insert"
    response = digit.pay([(bill, 815)])
    assert response.status_code == 504
    assert codes(response) == ["java.net.SocketTimeoutException"]
    assert by_bill(digit, bill["id"]) == []  # not committed yet
    digit.admin("clock", {"advance_seconds": 16 * 86400})  # the bill expires during the hold
    digit.login()
    wait_for_counter(digit, "late_commit")
    [payment] = by_bill(digit, bill["id"])
    assert payment["paymentDetails"][0]["billId"] == bill["id"]
    assert digit.get("counters")["create_held"] == 1
    assert digit.get("faults")["hold_creates"] == 0


def test_a_hold_shorter_than_the_gateway_timeout_answers_normally(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", {"hold_creates": 1, "hold_seconds": 0.2, "gateway_timeout_seconds": 3})
    response = digit.pay([(bill, 815)])
    assert response.status_code == 200
    assert body_of(response)["Payments"][0]["paymentDetails"][0]["billId"] == bill["id"]


def test_a_client_read_timeout_shorter_than_the_gateway_sees_no_answer(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", {"hold_creates": 1, "hold_seconds": 1, "gateway_timeout_seconds": 10})
    try:
        digit.pay([(bill, 815)], _timeout=0.3)
    except requests.exceptions.ReadTimeout:
        pass
    else:
        raise AssertionError("the create answered inside the hold")
    wait_for_counter(digit, "late_commit")
    assert len(by_bill(digit, bill["id"])) == 1


def test_a_retry_that_commits_first_makes_the_held_create_drop(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", HOLD)
    assert digit.pay([(bill, 815)]).status_code == 504
    retry = digit.pay([(bill, 815)])  # no row yet: BILL_ALREADY_PAID does not fire
    assert retry.status_code == 200
    wait_for_counter(digit, "late_commit_dropped")
    assert "late_commit" not in digit.get("counters")
    [payment] = by_bill(digit, bill["id"])
    assert payment["id"] == body_of(retry)["Payments"][0]["id"]


def test_after_insert_the_held_row_makes_a_concurrent_retry_fail(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", {**HOLD, "hold_phase": "after_insert"})
    first: dict[str, Any] = {}

    def create() -> None:
        first["response"] = digit.pay([(bill, 815)])

    thread = threading.Thread(target=create)
    thread.start()
    time.sleep(0.1)  # the held create is validated and holds the bill id
    retry = digit.pay([(bill, 815)])
    thread.join()
    assert first["response"].status_code == 504
    assert codes(retry) == ["PAYMENT_CREATION_FAILED"]
    assert "uk_egcl_paymentdetail" in body_of(retry)["Errors"][0]["message"]
    assert digit.get("counters")["late_commit"] == 1
    assert len(by_bill(digit, bill["id"])) == 1


def test_reset_discards_a_held_create(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", HOLD)
    assert digit.pay([(bill, 815)]).status_code == 504
    digit.admin("reset")
    time.sleep(1.6)
    assert digit.get("payments")["Payments"] == []
    assert digit.get("counters") == {}
