"""The console's cancellation pages in a real headless Chromium: one operator asks from the
payment's page, a viewer cannot decide, a second operator approves on the request's page after
confirming, and DIGIT (the sandbox over HTTP) cancels the payment."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.security import generate_password_hash

from integrator import jsonutil
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox
from tests.ops.conftest import PASSWORDS, csrf_of
from tests.ops.test_console_browser import browser as browser
from tests.ops.test_console_browser import flashes, page, submit  # noqa: F401 (fixture)

CAROL = ("carol", "carol-password-1")


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    def entry(name: str, role: str, password: str) -> str:
        return f"{name}:{role}:{generate_password_hash(password, method='pbkdf2:sha256:1000')}"

    return (
        entry("alice", "operator", PASSWORDS["alice"]),
        entry("bob", "viewer", PASSWORDS["bob"]),
        entry(*CAROL[:1], "operator", CAROL[1]),
    )


def sign_in(driver: WebDriver, live: str, name: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{live}/ops/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver, "sign-in")
    assert driver.find_element(By.ID, "who").text.startswith(name)


def registered_pt_payment(live: str, services: Services) -> str:
    _device, key = services.devices.add("pos-console-test", ["pb"])
    pos = Pos(base=live, key=key)
    [bill] = pos.bills(tenantId="pb.amritsar", businessService="PT", consumerCode="PT-107-000123")
    answer = pos.pay(
        {
            "tenantId": "pb.amritsar",
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": bill["billId"], "amount": Decimal(bill["totalAmount"])}],
        },
        key="console-cancel-1",
    )
    assert answer.status_code == 201, answer.text
    payment_id: str = jsonutil.loads(answer.content)["id"]
    return payment_id


def test_one_operator_asks_a_viewer_cannot_decide_another_approves(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
    world: Sandbox,
) -> None:
    payment_id = registered_pt_payment(live, services)

    sign_in(page, live, "alice", PASSWORDS["alice"])
    page.get(f"{live}/ops/payments/{payment_id}")
    page.find_element(By.ID, "cancel-reason").send_keys("Collected against the wrong consumer")
    submit(page, "request-cancellation")

    assert "CANCEL requested" in flashes(page)
    request_id = page.find_element(By.ID, "request-id").text
    assert page.find_element(By.ID, "request-state").text == "REQUESTED"
    assert page.find_elements(By.ID, "own-request") and not page.find_elements(By.ID, "approve")

    sign_in(page, live, "bob", PASSWORDS["bob"])
    page.get(f"{live}/ops/cancellations/{request_id}")
    assert not page.find_elements(By.ID, "decide")
    viewer = requests.Session()  # what the page does not offer, a viewer cannot post either
    login = viewer.get(f"{live}/ops/login", timeout=10)
    signed = viewer.post(
        f"{live}/ops/login",
        data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": csrf_of(login.text)},
        timeout=10,
    )
    refused = viewer.post(
        f"{live}/ops/cancellations/{request_id}/approve",
        data={"csrf_token": csrf_of(signed.text), "confirm": "on"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert world.counters().get("workflow_cancel", 0) == 0

    sign_in(page, live, *CAROL)
    page.find_element(By.ID, "nav-cancellations").click()
    rows = page.find_elements(By.CSS_SELECTOR, "tr.cancellation-row")
    assert [r.get_attribute("data-id") for r in rows] == [request_id]
    rows[0].find_element(By.CSS_SELECTOR, "a.open-request").click()
    assert page.find_element(By.ID, "request-reason").text == "Collected against the wrong consumer"
    page.find_element(By.ID, "approve").click()  # not confirmed: the browser does not send it
    assert page.find_element(By.ID, "request-state").text == "REQUESTED"
    page.find_element(By.ID, "confirm").click()
    submit(page, "approve")

    assert "DIGIT carried out the CANCEL" in flashes(page)
    assert page.find_element(By.ID, "request-state").text == "DONE"
    assert page.find_element(By.ID, "payment-status").text == "CANCELLED"
    assert "operator:carol" in page.find_element(By.ID, "decided-by").text
    stored = services.payments_store.get(payment_id)
    assert stored is not None and stored.status is PaymentStatus.CANCELLED
    assert world.counters()["workflow_cancel"] == 1

    page.get(f"{live}/ops/payments/{payment_id}")
    assert page.find_element(By.ID, "payment-status").text == "CANCELLED"
    assert not page.find_elements(By.ID, "reversal")  # nothing left to reverse
