"""The hard answer budget end to end: whatever DIGIT's latency, a device hears back on a payment
within REGISTRATION_BUDGET_SECONDS + 1 s and on a bill lookup within BILLS_DEADLINE_SECONDS.

The integrator, the DIGIT sandbox (its `latency_ms` fault delays every DIGIT call) and the ledger
are real; DIGIT's own per-call limits are production-like (longer than the budget), so only the
request's budget can bound the answer. This checks an upper bound, not a speed."""

from __future__ import annotations

import time

import pytest
import requests

from integrator.settings import Settings
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.e2e.test_pos_api import AMRITSAR, WS_RAMESH, current_bill, payment_body

BUDGET = 3.0  # REGISTRATION_BUDGET_SECONDS in these tests
BILLS_BUDGET = 2.5  # BILLS_DEADLINE_SECONDS in these tests
REFUSALS = {409, 422, 503}


@pytest.fixture
def e2e_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # A DIGIT call may last well beyond the budget, as in production (20 s read timeout).
    marker = request.node.get_closest_marker("settings")
    return settings.with_changes(
        digit_read_timeout=12.0,
        digit_call_deadline_seconds=12.0,
        lease_ttl_seconds=15.0,
        registration_budget_seconds=BUDGET,
        bills_deadline_seconds=BILLS_BUDGET,
        **(marker.kwargs if marker is not None else {}),
    )


def timed_pay(pos: Pos, key: str, amount: int, bill_id: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = pos.pay(payment_body([(bill_id, amount)]), key=key)
    return response, time.monotonic() - started


@pytest.mark.parametrize("latency_ms", [3000, 8000])
def test_a_payment_is_answered_within_the_budget_plus_one_second_whatever_digits_latency(
    pos: Pos, world: Sandbox, latency_ms: int
) -> None:
    bill = current_bill(pos, WS_RAMESH)  # token, MDMS and the bill snapshot while DIGIT is quick
    world.faults(latency_ms=latency_ms)

    response, elapsed = timed_pay(pos, f"budget-{latency_ms}", 500, bill["billId"])

    assert elapsed <= BUDGET + 1, (elapsed, response.status_code, response.text)
    assert response.status_code in {201, 202} | REFUSALS, response.text
    world.faults(latency_ms=0)
    stored = pos.get("/v1/payments", idempotencyKey=f"budget-{latency_ms}")
    if response.status_code in REFUSALS:
        # a refusal stored nothing: the device may safely ask again or take no money
        assert stored.status_code == 404, stored.text
        assert "Retry-After" in response.headers or response.status_code == 422
    else:
        # an acceptance was stored first: the worker registers what the device was told of
        assert stored.status_code == 200, stored.text
        assert body_of(stored)["id"] == body_of(response)["id"]


@pytest.mark.parametrize("latency_ms", [3000, 8000])
def test_bills_by_consumer_are_answered_within_the_bills_budget_whatever_digits_latency(
    pos: Pos, world: Sandbox, latency_ms: int
) -> None:
    current_bill(pos, WS_RAMESH)
    world.faults(latency_ms=latency_ms)

    started = time.monotonic()
    response = pos.get("/v1/bills", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)
    elapsed = time.monotonic() - started

    assert elapsed <= BILLS_BUDGET, (elapsed, response.status_code, response.text)
    # DIGIT cannot answer within the budget at either latency: a clear "try again", not a wait
    assert response.status_code == 503, response.text
    assert body_of(response)["code"] == "DIGIT_UNAVAILABLE"
    assert int(response.headers["Retry-After"]) >= 1


def test_bills_by_mobile_are_answered_within_the_bills_budget_when_digit_is_slow(
    pos: Pos, world: Sandbox
) -> None:
    current_bill(pos, WS_RAMESH)
    world.faults(latency_ms=8000)

    started = time.monotonic()
    response = pos.get("/v1/bills", tenantId=AMRITSAR, mobileNumber="9876543210")
    elapsed = time.monotonic() - started

    assert elapsed <= BILLS_BUDGET, (elapsed, response.status_code, response.text)
    assert response.status_code in {200, 503}, response.text


@pytest.mark.settings(served_bill_trust_seconds=0)
def test_a_bill_digit_cannot_re_read_within_the_budget_is_accepted_provisionally(
    pos: Pos, world: Sandbox
) -> None:
    bill = current_bill(pos, WS_RAMESH)  # served (its snapshot), but not trusted as served
    # the bill's re-read is cut by the budget: the snapshot vouches for it
    world.faults(latency_ms=int(BUDGET * 1000 * 1.5))

    response, elapsed = timed_pay(pos, "slow-checks-1", 500, bill["billId"])

    assert elapsed <= BUDGET + 1, (elapsed, response.text)
    assert response.status_code == 202, response.text
    accepted = body_of(response)
    assert accepted["status"] == "PENDING" and accepted["provisional"] is True
    world.faults(latency_ms=0)
    shown = pos.get(f"/v1/payments/{accepted['id']}")
    assert shown.status_code == 200 and body_of(shown)["provisional"] is True
