"""A payment of a bill served moments ago goes to DIGIT's create at once (one DIGIT round trip),
and DIGIT's refusal of that first create is the device's answer while it waits (sandbox over
real HTTP, the real ledger)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from integrator.payments.models import PaymentStatus
from integrator.payments.service import OUTAGE_HOLD_SECONDS
from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.e2e.test_pos_api import (
    AMRITSAR,
    SW_RAMESH,
    TL_AMRITSAR,
    WS_RAMESH,
    current_bill,
    payment_body,
)

DIGIT_CALLS = ("fetchbill", "bill_search", "payment_search", "payment_create", "mdms_search")


def digit_calls(world: Sandbox) -> dict[str, int]:
    counters = world.counters()
    return {name: counters.get(name, 0) for name in DIGIT_CALLS}


def pay_at_the_counter(world: Sandbox, consumer: str, service: str) -> None:
    """Someone pays the consumer's current bill at DIGIT's own counter."""
    world.admin(
        "counter-payment", tenantId=AMRITSAR, businessService=service, consumerCode=consumer
    )


def test_a_bill_served_moments_ago_is_paid_with_one_digit_call(pos: Pos, world: Sandbox) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    before = digit_calls(world)

    response = pos.pay(payment_body([(bill["billId"], 1500)]), key="one-trip")

    assert response.status_code == 201, response.text
    assert body_of(response)["status"] == "REGISTERED"
    after = digit_calls(world)
    assert {k: after[k] - before[k] for k in DIGIT_CALLS} == {
        "fetchbill": 0,
        "bill_search": 0,
        "payment_search": 0,
        "payment_create": 1,
        "mdms_search": 0,
    }


def test_a_bill_paid_at_digits_counter_meanwhile_is_refused_and_closed(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    pay_at_the_counter(world, TL_AMRITSAR, "TL")
    body = payment_body([(bill["billId"], 1500)])

    response = pos.pay(body, key="paid-meanwhile")

    assert response.status_code == 422, response.text
    problem = body_of(response)
    assert problem["code"] == "BILL_ALREADY_PAID"
    assert problem["errors"][0]["field"] == "bills/0/billId"
    # nothing of ours in DIGIT: only the counter's payment
    [counter] = world.payments_for_bill(bill["billId"])
    assert counter["additionalDetails"].get("source") == "sandbox-counter"
    stored = services.payments_store.get(problem["paymentId"])
    assert stored is not None and stored.status is PaymentStatus.REFUSED
    assert stored.history[-1].codes == ("BILL_ALREADY_PAID",)

    again = pos.pay(body, key="paid-meanwhile")  # a replay gets the same answer
    assert again.status_code == 422
    assert body_of(again)["code"] == "BILL_ALREADY_PAID"
    assert body_of(again)["errors"] == problem["errors"]
    shown = body_of(pos.get(f"/v1/payments/{stored.id}"))
    assert shown["status"] == "REFUSED" and shown["receipts"] == []


def test_a_refused_payment_frees_the_consumer_for_the_next_payment(
    pos: Pos, world: Sandbox
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    pay_at_the_counter(world, WS_RAMESH, "WS")
    first = pos.pay(payment_body([(bill["billId"], 815)]), key="refused-then-new")
    assert first.status_code == 422, first.text

    world.pass_backupdate_lag()
    # the counter paid all of it: DIGIT shows no bill now, and nothing of ours holds the consumer
    assert pos.bills(tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH) == []


def test_an_amount_digit_refuses_is_refused_with_digits_code(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    # DIGIT moved on after the bill was served: the sandbox's clock passes the bill's expiry,
    # which the integrator's clock has not reached (what it served still looks payable)
    world.admin("clock", advance_seconds=16 * 86400)
    current_bill(pos, TL_AMRITSAR, "TL")  # a read renews the integrator's expired DIGIT token

    response = pos.pay(payment_body([(bill["billId"], 815)]), key="expired-in-digit")

    assert response.status_code == 422, response.text
    problem = body_of(response)
    assert problem["code"] == "DIGIT_REFUSED_PAYMENT"
    assert [e["code"] for e in problem["errors"]] == ["BILL_EXPIRED"]
    assert world.payments_for_bill(bill["billId"]) == []
    stored = services.payments_store.get(problem["paymentId"])
    assert stored is not None and stored.status is PaymentStatus.REFUSED
    assert stored.total_amount == Decimal(815)


@pytest.mark.settings(registration_budget_seconds=1.0, lease_ttl_seconds=15.0)
def test_a_refusal_after_the_device_heard_accepted_goes_to_a_person(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    """The budget (1 s here) runs out before DIGIT answers (1.5 s, within the read timeout):
    the device hears 202, so DIGIT's later refusal cannot be its answer any more; the payment
    waits for an operator."""
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    pay_at_the_counter(world, TL_AMRITSAR, "TL")
    world.faults(latency_ms=1500)

    response = pos.pay(payment_body([(bill["billId"], 1500)]), key="late-refusal")

    assert response.status_code == 202, response.text
    payment_id = body_of(response)["id"]
    deadline = time.monotonic() + 30
    stored: Any = None
    while time.monotonic() < deadline:
        stored = services.payments_store.get(payment_id)
        if stored is not None and stored.status is not PaymentStatus.PENDING:
            break
        time.sleep(0.3)
    assert stored is not None and stored.status is PaymentStatus.NEEDS_ATTENTION
    assert stored.needs_attention_reason == "BILL_PAID_ELSEWHERE"


@pytest.mark.settings(served_bill_trust_seconds=0)
def test_with_no_trust_in_served_bills_the_bill_is_read_again_first(
    pos: Pos, world: Sandbox
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    before = digit_calls(world)

    response = pos.pay(payment_body([(bill["billId"], 1500)]), key="re-read")

    assert response.status_code == 201, response.text
    after = digit_calls(world)
    assert after["bill_search"] - before["bill_search"] == 1
    assert after["payment_create"] - before["payment_create"] == 1


def test_a_bill_never_served_is_read_from_digit(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    # the bill comes from DIGIT directly, not through the integrator's API: no served snapshot
    [bill] = services.digit.fetch_bills(
        tenant_id=AMRITSAR, business_service="TL", consumer_code=TL_AMRITSAR
    )
    before = digit_calls(world)

    response = pos.pay(payment_body([(bill.id, 1500)]), key="never-served")

    assert response.status_code == 201, response.text
    after = digit_calls(world)
    assert after["bill_search"] - before["bill_search"] == 1


def test_a_bill_served_before_a_newer_one_of_its_consumer_is_refused_without_digit(
    pos: Pos, world: Sandbox
) -> None:
    old = current_bill(pos, WS_RAMESH)
    world.admin("new-demand", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)
    new = current_bill(pos, WS_RAMESH)  # the device was shown the successor
    assert new["billId"] != old["billId"]
    before = digit_calls(world)

    response = pos.pay(payment_body([(old["billId"], 815)]), key="old-after-new")

    assert response.status_code == 422, response.text
    assert body_of(response)["code"] == "BILL_SUPERSEDED"
    assert digit_calls(world) == before


def test_a_bill_replaced_in_digit_since_it_was_served_is_paid_as_served(
    pos: Pos, world: Sandbox
) -> None:
    """What trusting a bill served moments ago accepts: DIGIT's create checks a bill's expiry
    date, not its status, so it records the payment on the bill the payer was shown; the
    consumer's next bill is worked out from the demand, which the payment reduced."""
    old = current_bill(pos, WS_RAMESH)
    world.admin("new-demand", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)

    response = pos.pay(payment_body([(old["billId"], 815)]), key="replaced-unseen")

    assert response.status_code == 201, response.text
    [paid] = world.payments_for_bill(old["billId"])
    assert paid["paymentDetails"][0]["totalAmountPaid"] == 815


@pytest.mark.settings(served_bill_trust_seconds=0)
def test_with_no_trust_a_bill_replaced_in_digit_is_refused_as_superseded(
    pos: Pos, world: Sandbox
) -> None:
    old = current_bill(pos, WS_RAMESH)
    world.admin("new-demand", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)

    response = pos.pay(payment_body([(old["billId"], 815)]), key="replaced-re-read")

    assert response.status_code == 422, response.text
    assert body_of(response)["code"] == "BILL_SUPERSEDED"
    assert world.payments_for_bill(old["billId"]) == []


def test_only_a_payment_the_inline_attempt_did_not_decide_gets_a_registration_job(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    from integrator.jobs.scheduling import JobState, RqRegistrationScheduler

    jobs = RqRegistrationScheduler(services.redis, services.settings)
    registered = pos.pay(
        payment_body([(current_bill(pos, TL_AMRITSAR, "TL")["billId"], 1500)]), key="decided"
    )
    assert registered.status_code == 201, registered.text
    bill = current_bill(pos, WS_RAMESH)
    world.faults(down=True)

    accepted = pos.pay(payment_body([(bill["billId"], 815)]), key="undecided")

    assert accepted.status_code == 202, accepted.text
    assert jobs.state(body_of(registered)["id"]) is JobState.NONE
    assert jobs.state(body_of(accepted)["id"]) is JobState.SCHEDULED


def test_after_a_create_got_no_answer_the_next_payments_go_to_the_worker_at_once(
    pos: Pos, world: Sandbox
) -> None:
    tl, ws = current_bill(pos, TL_AMRITSAR, "TL"), current_bill(pos, WS_RAMESH)
    world.faults(down=True)
    before = digit_calls(world)

    first = pos.pay(payment_body([(tl["billId"], 1500)]), key="down-first")
    second = pos.pay(payment_body([(ws["billId"], 815)]), key="down-second")

    assert (first.status_code, second.status_code) == (202, 202), second.text
    # only the first payment tried DIGIT's create; the second was handed to the worker
    assert digit_calls(world)["payment_create"] - before["payment_create"] == 1


def test_when_the_hold_runs_out_one_payment_probes_digit_and_the_others_go_to_the_worker(
    pos: Pos, world: Sandbox
) -> None:
    tl, ws = current_bill(pos, TL_AMRITSAR, "TL"), current_bill(pos, WS_RAMESH)
    sw = current_bill(pos, SW_RAMESH, "SW")
    world.faults(down=True)
    assert pos.pay(payment_body([(tl["billId"], 1500)]), key="hold-first").status_code == 202
    before = digit_calls(world)
    time.sleep(OUTAGE_HOLD_SECONDS + 0.1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda paid: pos.pay(payment_body([paid[:2]]), key=paid[2]),
                [(ws["billId"], 815, "hold-ws"), (sw["billId"], 315, "hold-sw")],
            )
        )

    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    # one of the two probed DIGIT's create; the other was handed to the worker meanwhile
    assert digit_calls(world)["payment_create"] - before["payment_create"] == 1
