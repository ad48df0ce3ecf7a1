"""Fault injection and world controls under /_sandbox/ (for the chaos tests)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.sandbox.conftest import Digit, body_of, codes


def test_latency_delays_digit_calls_but_not_admin(digit: Digit) -> None:
    digit.admin("faults", {"latency_ms": 300})
    started = time.monotonic()
    assert digit.fetch().status_code == 201
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    digit.get("counters")
    assert time.monotonic() - started < 0.3


def test_down_answers_502_resource_access_exception_for_login_too(digit: Digit) -> None:
    digit.admin("faults", {"down": True})
    response = digit.fetch()
    assert response.status_code == 502
    assert codes(response) == ["ResourceAccessException"]
    assert digit.login().status_code == 502


def test_error_rate_one_always_fails_with_500_or_502(digit: Digit) -> None:
    digit.admin("faults", {"error_rate": 1})
    statuses = {digit.fetch().status_code for _ in range(10)}
    assert statuses <= {500, 502} and statuses


def test_timeout_after_commit_records_the_payment_but_never_answers(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", {"timeout_after_commit": 1, "hang_seconds": 2})
    with pytest.raises(requests.exceptions.RequestException):
        digit.pay([(bill, 815)], _timeout=0.5)
    [payment] = digit.get("payments")["Payments"]
    assert payment["paymentDetails"][0]["billId"] == bill["id"]
    # the next create for the same bill is refused: the first one was committed
    assert codes(digit.pay([(bill, 815)])) == ["BILL_ALREADY_PAID"]


def test_unknown_400_after_commit_records_the_payment(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("faults", {"unknown_400_after_commit": 1})
    response = digit.pay([(bill, 815)])
    assert response.status_code == 400
    assert body_of(response)["Errors"][0] == {
        "code": "org.springframework.dao.DataIntegrityViolationException",
        "message": "An unhandled exception occurred on the server",
        "description": None,
        "params": None,
    }
    assert len(digit.get("payments")["Payments"]) == 1


def test_counters_count_calls_per_endpoint_and_reset_clears_them(digit: Digit) -> None:
    digit.fetch()
    digit.fetch()
    digit.post(
        "/billing-service/bill/v2/_search", tenantId="pb.amritsar", mobileNumber="9876543210"
    )
    counters = digit.get("counters")
    assert counters == {"login": 1, "fetchbill": 2, "bill_search": 1}
    digit.admin("reset")
    assert digit.get("counters") == {}


def test_backupdate_lag_is_settable(digit: Digit) -> None:
    digit.admin("backupdate-lag", {"seconds": 0})
    bill = digit.bill()
    digit.pay([(bill, 500)])
    assert digit.bill()["totalAmount"] == 315


def test_consumers_listing_and_health(sandbox: str) -> None:
    assert requests.get(f"{sandbox}/_sandbox/health", timeout=5).json() == {"status": "UP"}
    consumers = body_of(requests.get(f"{sandbox}/_sandbox/consumers", timeout=5))["consumers"]
    assert len(consumers) >= 15
    assert {c["tenantId"] for c in consumers} == {"pb.amritsar", "pb.jalandhar", "pb.nawanshahr"}
    assert [c["consumerCode"] for c in consumers if not c["billed"]] == ["WS/107/2021-22/000041"]
