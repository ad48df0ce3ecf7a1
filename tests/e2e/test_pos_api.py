"""The PoS API end to end: the integrator and the DIGIT sandbox over real HTTP, a real Redis,
and the sandbox's back-update lag above zero."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of

AMRITSAR = "pb.amritsar"
WS_RAMESH = "WS/107/2019-20/000022"  # 815 due; WS: part payment (min 100) and advance allowed
SW_RAMESH = "SW/107/2019-20/000011"  # 315 due, same payer and mobile
TL_AMRITSAR = "PB-TL-2024-07-04-002271"  # 1500 due; TL: exact amount only
RAMESH_MOBILE = "9876543210"


def payment_body(bills: list[tuple[str, Any]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenantId": AMRITSAR,
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "payerName": "Ramesh Kumar",
        "mobileNumber": RAMESH_MOBILE,
        "bills": [{"billId": bill_id, "amount": amount} for bill_id, amount in bills],
    }
    body.update(overrides)
    return body


def current_bill(pos: Pos, consumer: str, service: str = "WS") -> dict[str, Any]:
    bills = pos.bills(tenantId=AMRITSAR, businessService=service, consumerCode=consumer)
    assert len(bills) == 1, bills
    return bills[0]


# --- bills ---


def test_bill_by_consumer_number_shows_what_may_be_paid(pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)

    assert bill["consumerCode"] == WS_RAMESH and bill["businessService"] == "WS"
    assert bill["totalAmount"] == Decimal(815)
    assert bill["mobileNumber"].endswith("3210") and RAMESH_MOBILE not in bill["mobileNumber"]
    assert bill["partPaymentAllowed"] is True and bill["advanceAllowed"] is True
    assert bill["minimumPayable"] == Decimal(100)
    assert bill["maximumPayable"] > bill["totalAmount"]
    assert bill["amountExactness"] == "ADHOC"
    assert "DD" in bill["paymentModesNotAllowed"]
    assert sum(line["amount"] for line in bill["lines"]) == bill["totalAmount"]
    assert "+05:30" in bill["expiryDate"]
    assert bill["pendingPayment"] is None


def test_trade_licence_bill_is_exact(pos: Pos) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    assert bill["amountExactness"] == "EXACT"
    assert bill["minimumPayable"] == bill["maximumPayable"] == bill["totalAmount"]


def test_nothing_due_is_an_empty_list(pos: Pos) -> None:
    assert (
        pos.bills(tenantId=AMRITSAR, businessService="WS", consumerCode="WS/107/2019-20/000024")
        == []
    )


def test_bills_by_mobile_span_services_and_cities(pos: Pos) -> None:
    bills = pos.bills(tenantId="pb", mobileNumber=RAMESH_MOBILE)
    found = {(b["tenantId"], b["businessService"], b["consumerCode"]) for b in bills}
    assert found >= {
        (AMRITSAR, "WS", WS_RAMESH),
        (AMRITSAR, "SW", SW_RAMESH),
        (AMRITSAR, "PT", "PT-107-000123"),
        ("pb.jalandhar", "WS", "WS/1013/2019-20/000101"),
        ("pb.jalandhar", "PT", "PT-1013-000045"),
    }
    city_only = pos.bills(tenantId=AMRITSAR, mobileNumber=RAMESH_MOBILE, businessService="WS")
    assert [b["consumerCode"] for b in city_only] == [WS_RAMESH]


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ({"businessService": "pt", "consumerCode": "PT-107-000123"}, "send PT"),
        ({"businessService": "XX", "consumerCode": "PT-107-000123"}, "WS, SW, PT, TL"),
        ({"businessService": "pt", "mobileNumber": RAMESH_MOBILE}, "send PT"),
        ({"businessService": "XX", "mobileNumber": RAMESH_MOBILE}, "WS, SW, PT, TL"),
    ],
)
def test_an_unknown_or_lowercase_business_service_is_refused_not_answered_with_no_bills(
    pos: Pos, query: dict[str, str], hint: str
) -> None:
    response = pos.get("/v1/bills", tenantId=AMRITSAR, **query)

    assert response.status_code == 422, response.text
    problem = body_of(response)
    assert problem["code"] == "INVALID_BUSINESS_SERVICE"
    [error] = problem["errors"]
    assert error["field"] == "businessService" and hint in error["message"]


def test_a_city_device_cannot_act_for_another_city(other_pos: Pos) -> None:
    response = other_pos.get(
        "/v1/bills",
        tenantId="pb.jalandhar",
        businessService="WS",
        consumerCode="WS/1013/2019-20/000101",
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/problem+json")


# --- payments ---


def test_partial_payment_registers_and_the_remainder_is_a_new_bill(
    pos: Pos, world: Sandbox
) -> None:
    bill = current_bill(pos, WS_RAMESH)

    response = pos.pay(payment_body([(bill["billId"], 500)]), key="txn-partial-1")

    assert response.status_code == 201, response.text
    payment = body_of(response)
    assert payment["status"] == "REGISTERED" and payment["provisional"] is False
    [receipt] = payment["receipts"]
    assert receipt["billId"] == bill["billId"] and receipt["amount"] == Decimal(500)
    assert receipt["receiptNumber"].count("/") == 2
    assert response.headers["Location"] == f"/v1/payments/{payment['id']}"

    world.pass_backupdate_lag()
    remainder = current_bill(pos, WS_RAMESH)
    assert remainder["billId"] != bill["billId"]
    assert remainder["totalAmount"] == Decimal(315)


def test_paying_again_inside_the_back_update_window_is_refused(pos: Pos, other_pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    assert pos.pay(payment_body([(bill["billId"], 815)]), key="first").status_code == 201

    # DIGIT's back-update has not run: the paid bill still looks ACTIVE
    again = current_bill(other_pos, WS_RAMESH)
    assert again["billId"] == bill["billId"]
    response = other_pos.pay(payment_body([(bill["billId"], 815)]), key="second")

    assert response.status_code == 422, response.text
    assert body_of(response)["code"] == "BILL_ALREADY_PAID"


def test_several_bills_in_one_payment_get_one_receipt_each(pos: Pos, world: Sandbox) -> None:
    ws, sw = current_bill(pos, WS_RAMESH), current_bill(pos, SW_RAMESH, "SW")

    response = pos.pay(payment_body([(ws["billId"], 815), (sw["billId"], 315)]), key="multi")

    assert response.status_code == 201, response.text
    receipts = {r["billId"]: r for r in body_of(response)["receipts"]}
    assert set(receipts) == {ws["billId"], sw["billId"]}
    assert len({r["receiptNumber"] for r in receipts.values()}) == 2
    [digit_payment] = world.payments()
    assert len(digit_payment["paymentDetails"]) == 2
    assert digit_payment["additionalDetails"]["integratorPaymentId"] == body_of(response)["id"]


def test_replay_returns_the_same_payment_and_says_so(pos: Pos, world: Sandbox) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    body = payment_body([(bill["billId"], 1500)])
    first = pos.pay(body, key="replay-1")
    assert first.status_code == 201

    again = pos.pay(body, key='"replay-1"')  # the structured-field form of the same key

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert body_of(again)["id"] == body_of(first)["id"]
    assert len(world.payments_for_bill(bill["billId"])) == 1


@pytest.mark.settings(served_bill_trust_seconds=0)  # the repeat re-reads the bill: PAID
def test_a_replay_after_its_in_flight_marker_is_gone_still_replays(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    """Days later the marker has expired: the claim reads no ledger, DIGIT says the bill is paid
    (by this very payment), and the device repeating its request still hears its payment, not a
    refusal; with another body it hears that the key was used."""
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    body = payment_body([(bill["billId"], 1500)])
    first = pos.pay(body, key="replay-late")
    assert first.status_code == 201
    world.pass_backupdate_lag()  # DIGIT has marked the bill PAID
    services.redis.delete(*services.redis.keys("*in-flight*"))

    again = pos.pay(body, key="replay-late")
    other = pos.pay(payment_body([(bill["billId"], 1400)]), key="replay-late")

    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert body_of(again)["id"] == body_of(first)["id"]
    assert (other.status_code, body_of(other)["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(world.payments_for_bill(bill["billId"])) == 1


def test_same_key_with_another_body_is_refused(pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    assert pos.pay(payment_body([(bill["billId"], 500)]), key="k1").status_code == 201
    response = pos.pay(payment_body([(bill["billId"], 600)]), key="k1")
    assert response.status_code == 422
    assert body_of(response)["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_two_concurrent_identical_requests_make_one_payment(pos: Pos, world: Sandbox) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    body = payment_body([(bill["billId"], 1500)])
    world.faults(latency_ms=300)
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def pay() -> None:
        barrier.wait()
        answers.append(pos.pay(body, key="concurrent-1"))

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([200, 201], [201, 409]), [a.text for a in answers]
    ids = {body_of(a).get("id") for a in answers if a.status_code != 409}
    assert len(ids) == 1
    assert len(world.payments_for_bill(bill["billId"])) == 1


def test_a_second_payment_while_one_is_in_progress_is_refused(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    world.faults(down=True)
    first = pos.pay(payment_body([(bill["billId"], 500)]), key="in-progress-1")
    assert first.status_code == 202, first.text

    response = pos.pay(payment_body([(bill["billId"], 300)]), key="in-progress-2")

    assert response.status_code == 409
    assert body_of(response)["code"] == "PAYMENT_IN_PROGRESS"
    world.faults(down=False)
    shown = current_bill(pos, WS_RAMESH)
    assert shown["pendingPayment"]["id"] == body_of(first)["id"]


def test_digit_down_at_payment_time_accepts_the_bill_served_moments_ago(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)  # served to the device moments ago
    world.faults(down=True)

    response = pos.pay(payment_body([(bill["billId"], 815)]), key="down-0")

    # checked against the bill as served (no re-read), the create got no answer: 202
    assert response.status_code == 202, response.text
    accepted = body_of(response)
    assert accepted["status"] == "PENDING" and accepted["provisional"] is False
    stored = services.payments_store.get(accepted["id"])
    assert stored is not None and stored.create_sent


@pytest.mark.settings(served_bill_trust_seconds=0)
def test_digit_down_at_payment_time_accepts_provisionally_and_stores_it(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)  # served to the device: the snapshot vouches for it
    world.faults(down=True)

    response = pos.pay(payment_body([(bill["billId"], 815)]), key="down-1")

    assert response.status_code == 202, response.text
    accepted = body_of(response)
    assert accepted["status"] == "PENDING" and accepted["provisional"] is True
    assert response.headers["Location"] == f"/v1/payments/{accepted['id']}"
    stored = services.payments_store.get(accepted["id"])
    assert stored is not None and stored.bills[0].amount == Decimal(815)
    shown = body_of(pos.get(f"/v1/payments/{accepted['id']}"))
    assert shown["status"] == "PENDING" and shown["provisional"] is True


def test_digit_down_and_no_snapshot_is_503_and_nothing_stored(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    world.faults(down=True)
    response = pos.pay(payment_body([("never-served-bill", 815)]), key="down-2")
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert services.payments_store.count_by_status() == {
        status: 0 for status in services.payments_store.count_by_status()
    }


def test_commit_then_timeout_is_adopted_not_created_twice(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    world.faults(timeout_after_commit=1, hang_seconds=5)

    response = pos.pay(payment_body([(bill["billId"], 1500)]), key="timeout-1")

    assert response.status_code == 202, response.text
    payment_id = body_of(response)["id"]
    assert len(world.payments_for_bill(bill["billId"])) == 1  # DIGIT did record it
    # The next attempt waits for the first one's lease to expire, then looks before creating
    outcome = _attempt_until_decided(services, payment_id)
    assert outcome == "REGISTERED"
    assert len(world.payments_for_bill(bill["billId"])) == 1
    shown = body_of(pos.get(f"/v1/payments/{payment_id}"))
    assert shown["status"] == "REGISTERED" and shown["receipts"][0]["receiptNumber"]


def test_two_registration_attempts_racing_make_one_digit_call(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    world.faults(down=True)
    accepted = body_of(pos.pay(payment_body([(bill["billId"], 1500)]), key="race-1"))
    world.faults(down=False, latency_ms=400)
    # the failed inline attempt's create may still be in DIGIT's hands: its lease must expire
    _wait_until(lambda: services.leases.current(accepted["id"]) is None)
    before = world.counters().get("payment_create", 0)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        results.append(services.registrar.attempt(accepted["id"], actor="test").result)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["BUSY", "BUSY", "BUSY", "REGISTERED"]
    assert world.counters().get("payment_create", 0) - before == 1


def _wait_until(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _attempt_until_decided(services: Services, payment_id: str, *, tries: int = 40) -> str:
    import time

    for _ in range(tries):
        outcome = services.registrar.attempt(payment_id, actor="test")
        if outcome.result in {"REGISTERED", "NEEDS_ATTENTION"}:
            return str(outcome.result)
        time.sleep(0.25)
    return str(outcome.result)


# --- rules enforced before anything is stored ---


@pytest.mark.parametrize(
    ("consumer", "service", "amount", "code"),
    [
        (WS_RAMESH, "WS", 50, "AMOUNT_BELOW_MINIMUM"),
        (WS_RAMESH, "WS", "100.50", "FRACTIONAL_AMOUNT"),
        (TL_AMRITSAR, "TL", 1000, "PARTIAL_PAYMENT_NOT_ALLOWED"),
        (TL_AMRITSAR, "TL", 1600, "ADVANCE_NOT_ALLOWED"),
    ],
)
def test_amount_rules_refuse_before_digit_is_written(
    pos: Pos,
    world: Sandbox,
    services: Services,
    consumer: str,
    service: str,
    amount: Any,
    code: str,
) -> None:
    bill = current_bill(pos, consumer, service)
    body = payment_body([(bill["billId"], Decimal(str(amount)))])

    response = pos.pay(body, key=f"bad-{code}")

    assert response.status_code == 422, response.text
    problem = body_of(response)
    assert problem["code"] == code
    assert problem["errors"][0]["field"] == "bills/0/amount"
    assert world.counters().get("payment_create", 0) == 0
    assert (
        services.payments_store.get_by_idempotency(services.devices.list()[0].id, f"bad-{code}")
        is None
    )


def test_mode_not_allowed_for_the_service_is_refused(pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    response = pos.pay(
        payment_body(
            [(bill["billId"], 815)],
            paymentMode="DD",
            instrumentNumber="123456",
            instrumentDate="2026-11-20",
        ),
        key="dd-1",
    )
    assert response.status_code == 422
    assert body_of(response)["code"] == "PAYMENT_MODE_NOT_ALLOWED"


def test_unknown_bill_is_refused(pos: Pos) -> None:
    response = pos.pay(payment_body([("no-such-bill", 815)]), key="unknown-bill")
    assert response.status_code == 422
    assert body_of(response)["code"] == "BILL_NOT_FOUND"


def test_superseded_bill_is_refused(pos: Pos, world: Sandbox) -> None:
    old = current_bill(pos, WS_RAMESH)
    world.admin("new-demand", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)
    current_bill(pos, WS_RAMESH)  # DIGIT generates the successor
    response = pos.pay(payment_body([(old["billId"], 815)]), key="superseded")
    assert response.status_code == 422
    assert body_of(response)["code"] == "BILL_SUPERSEDED"


def test_validate_checks_without_storing(pos: Pos, services: Services) -> None:
    bill = current_bill(pos, WS_RAMESH)
    response = pos.validate(payment_body([(bill["billId"], 815)]))
    assert response.status_code == 200, response.text
    assert services.payments_store.count_by_status() == {
        status: 0 for status in services.payments_store.count_by_status()
    }
    refused = pos.validate(payment_body([(bill["billId"], 20)]))
    assert refused.status_code == 422


def test_validate_refuses_a_bill_the_ledger_already_holds_a_payment_for(pos: Pos) -> None:
    # the sandbox's back-update lag is above zero: DIGIT still serves the bill ACTIVE, only our
    # ledger knows it is paid, and validate must answer what POST would
    bill = current_bill(pos, SW_RAMESH, "SW")
    body = payment_body([(bill["billId"], 315)])
    assert pos.pay(body, key="validate-after-pay").status_code == 201

    validated = pos.validate(body)
    posted = pos.pay(body, key="validate-after-pay-again")

    assert posted.status_code == 422 and body_of(posted)["code"] == "BILL_ALREADY_PAID"
    assert validated.status_code == 422, validated.text
    assert body_of(validated)["code"] == "BILL_ALREADY_PAID"
    assert body_of(validated)["errors"] == body_of(posted)["errors"]


# --- reading back ---


def test_payment_is_visible_only_to_its_device_and_findable_by_key(
    pos: Pos, other_pos: Pos
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    made = body_of(pos.pay(payment_body([(bill["billId"], 1500)]), key="mine-1"))

    assert other_pos.get(f"/v1/payments/{made['id']}").status_code == 404
    found = pos.get("/v1/payments", idempotencyKey="mine-1")
    assert found.status_code == 200 and body_of(found)["id"] == made["id"]
    assert other_pos.get("/v1/payments", idempotencyKey="mine-1").status_code == 404


def test_receipt_can_be_reprinted(pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    made = body_of(pos.pay(payment_body([(bill["billId"], 815)]), key="reprint-1"))
    number = made["receipts"][0]["receiptNumber"]

    response = pos.get(
        "/v1/receipts", receiptNumber=number, tenantId=AMRITSAR, businessService="WS"
    )

    assert response.status_code == 200, response.text
    receipt = body_of(response)
    assert receipt["receiptNumber"] == number
    assert receipt["amountPaid"] == Decimal(815)
    assert receipt["consumerCode"] == WS_RAMESH


def test_requests_without_a_key_are_refused(live: str) -> None:
    response = requests.get(f"{live}/v1/bills", params={"tenantId": AMRITSAR}, timeout=10)
    assert response.status_code == 401


def test_openapi_document_validates_and_lists_every_v1_route(live: str, app: Any) -> None:
    document = requests.get(f"{live}/openapi.json", timeout=10).json()
    validate(document)
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        path = path.replace("{string:", "{").replace("{path:", "{")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_same_key_while_the_first_request_is_in_flight_is_409_with_retry_after(
    pos: Pos, world: Sandbox
) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    body = payment_body([(bill["billId"], 1500)])
    world.faults(latency_ms=1500)  # the first request is still waiting on DIGIT
    first: list[requests.Response] = []
    thread = threading.Thread(target=lambda: first.append(pos.pay(body, key="in-flight-1")))
    thread.start()
    try:
        import time

        time.sleep(0.5)
        second = pos.pay(body, key="in-flight-1")
    finally:
        thread.join()

    assert second.status_code == 409, second.text
    assert body_of(second)["code"] == "REQUEST_IN_FLIGHT"
    assert int(second.headers["Retry-After"]) >= 1
    assert first[0].status_code in (201, 202)


def test_card_payment_carries_the_devices_transaction_number_and_our_references(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    body = payment_body(
        [(bill["billId"], 815)],
        paymentMode="CARD",
        transactionNumber="RRN-000123456",
        instrumentNumber="4111-XXXX-1111",
    )

    made = pos.pay(body, key="card-1")

    assert made.status_code == 201, made.text
    [digit_payment] = world.payments_for_bill(bill["billId"])
    assert digit_payment["transactionNumber"] == "RRN-000123456"
    details = digit_payment["additionalDetails"]
    device = services.devices.list()[0]
    assert details["integratorPaymentId"] == body_of(made)["id"]
    assert details["deviceId"] == device.id
    assert details["idempotencyKey"] == "card-1"
    assert pos.key not in str(digit_payment)


def test_cash_payment_sends_our_payment_id_as_transaction_number(pos: Pos, world: Sandbox) -> None:
    bill = current_bill(pos, TL_AMRITSAR, "TL")
    made = body_of(pos.pay(payment_body([(bill["billId"], 1500)]), key="cash-txn"))
    [digit_payment] = world.payments_for_bill(bill["billId"])
    # DIGIT overwrites a CASH transaction number (digest 5.1), so it is never used to find ours
    assert digit_payment["transactionNumber"] != made["id"]
    assert digit_payment["additionalDetails"]["integratorPaymentId"] == made["id"]


def test_while_the_ledger_is_unreachable_devices_get_503_and_nothing_is_half_written(
    e2e_settings: Any, redis: Any, sandbox: str
) -> None:
    from integrator.app import create_app
    from integrator.services import services_of
    from integrator.store.db import Database
    from tests.support.live_app import serve
    from tests.support.processes import free_port

    app = create_app(e2e_settings)
    services = services_of(app)
    _device, key = services.devices.add("pos-ledger", ["pb"])
    ledger = services.db
    gone = Database.connect(f"postgresql://nobody@127.0.0.1:{free_port()}/none", max_size=1)
    with serve(app) as base:
        device = Pos(base=base, key=key)
        bill = current_bill(device, TL_AMRITSAR, "TL")
        for store in (services.payments_store, services.idempotency, services.leases):
            store._db = gone  # type: ignore[attr-defined]
        refused = device.pay(payment_body([(bill["billId"], 1500)]), key="ledger-1")
        for store in (services.payments_store, services.idempotency, services.leases):
            store._db = ledger  # type: ignore[attr-defined]
        assert services.payments_store.list_recent().payments == ()
        accepted = device.pay(payment_body([(bill["billId"], 1500)]), key="ledger-1")

    assert refused.status_code == 503, refused.text
    assert body_of(refused)["code"] == "LEDGER_UNAVAILABLE" and "Retry-After" in refused.headers
    assert accepted.status_code == 201, accepted.text
    [stored] = services.payments_store.list_recent().payments
    assert stored.idempotency_key == "ledger-1" and stored.status.value == "REGISTERED"
    gone.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/payments/%00"),
        ("GET", "/v1/payments/pay%00"),
        ("GET", "/v1/payments/%00/receipt"),
        ("POST", "/v1/payments/%00/cancellation"),
        ("GET", "/v1/payments/%ED%A0%80"),
    ],
)
def test_a_path_id_that_cannot_be_a_payment_id_is_404_payment_not_found(
    pos: Pos, method: str, path: str
) -> None:
    answer = requests.request(
        method,
        f"{pos.base}{path}",
        data='{"reason": "Wrong consumer"}',
        headers=pos.headers(),
        timeout=30,
    )

    assert answer.status_code == 404, answer.text
    assert body_of(answer)["code"] == "PAYMENT_NOT_FOUND"
