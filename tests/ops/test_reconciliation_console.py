"""The ops console's reconciliation page in a real headless Chromium: the dashboard's count, the
list with the DIGIT payment's details, an operator's acknowledgement with a note; a viewer sees
but may not acknowledge. Findings come from a real walk of the sandbox's payments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from integrator.jobs.reconcile import ReconcileWiring, run_digit_walk
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.payments.reverse_reconciliation import FindingKind
from integrator.services import Services
from tests.ops.conftest import csrf_of, make_payment, signed_in
from tests.ops.test_console_browser import browser as browser
from tests.ops.test_console_browser import flashes, sign_in
from tests.ops.test_reverse_reconciliation import in_digit


@pytest.fixture
def page(browser: WebDriver, live: str) -> Iterator[WebDriver]:
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()


def orphan_in_digit(services: Services) -> tuple[str, str, str]:
    """A payment the ledger gave up on (NEEDS_ATTENTION) that DIGIT holds; the walk of today
    records it. (payment id, DIGIT payment id, receipt number)"""
    payment = make_payment(services, status=PaymentStatus.PENDING)
    digit = in_digit(services, payment)
    stored = services.payments_store.get(payment.id)
    assert stored is not None
    services.payments_store.save(
        states.transition(
            stored,
            PaymentStatus.NEEDS_ATTENTION,
            actor="worker",
            reason="RETRIES_EXHAUSTED",
            at=stored.created_at,
        ),
        fence=None,
    )
    day = datetime.now(services.settings.digit_timezone).date()
    report = run_digit_walk(ReconcileWiring.of_services(services), first=day, last=day)
    assert report.count(FindingKind.ORPHAN) == 1
    return payment.id, digit.id, digit.details[0].receipt_number


def test_an_operator_sees_the_orphan_with_digits_details_and_acknowledges_it_with_a_note(
    page: WebDriver, live: str, services: Services
) -> None:
    payment_id, digit_id, receipt = orphan_in_digit(services)
    sign_in(page, live, "alice")

    assert page.find_element(By.CSS_SELECTOR, "#count-RECONCILIATION .n").text == "1"
    page.find_element(By.ID, "count-RECONCILIATION").click()
    [row] = page.find_elements(By.CSS_SELECTOR, "#flags .flag-row")
    assert row.find_element(By.CSS_SELECTOR, ".kind").text == "ORPHAN"
    assert digit_id in row.find_element(By.CSS_SELECTOR, ".digit-payment").text
    assert receipt in row.find_element(By.CSS_SELECTOR, ".receipt").text
    assert payment_id in row.text and "NEEDS_ATTENTION" in row.text
    # the payment's own page says it too, once, where the operator decides
    page.get(f"{live}/ops/payments/{payment_id}")
    [shown] = page.find_elements(By.CSS_SELECTOR, "#decide #reconciliation-flags li")
    assert "ORPHAN" in shown.text and digit_id in shown.text and receipt in shown.text
    assert page.find_elements(By.CSS_SELECTOR, "li.flag-open, li.flag-acknowledged") == [shown]
    page.find_element(By.ID, "nav-reconciliation").click()
    [row] = page.find_elements(By.CSS_SELECTOR, "#flags .flag-row")

    row.find_element(By.CSS_SELECTOR, ".ack-note").send_keys("refund cancelled, receipt stands")
    button = row.find_element(By.CSS_SELECTOR, ".ack-button")
    button.click()
    WebDriverWait(page, 10).until(staleness_of(button))  # the answer's page has loaded

    assert "acknowledged" in flashes(page)
    assert page.find_element(By.ID, "no-flags").text == "No unacknowledged flags."
    page.find_element(By.ID, "show-all").click()
    [row] = page.find_elements(By.CSS_SELECTOR, "#flags .flag-row")
    assert "alice" in row.text and "refund cancelled, receipt stands" in row.text
    page.get(f"{live}/ops/")
    assert page.find_element(By.CSS_SELECTOR, "#count-RECONCILIATION .n").text == "0"


def test_a_viewer_sees_flags_but_may_not_acknowledge_and_an_empty_note_is_refused(
    live: str, services: Services
) -> None:
    orphan_in_digit(services)
    [flag] = services.flags.list()
    viewer, viewer_csrf = signed_in(live, "bob")
    listing = viewer.get(f"{live}/ops/reconciliation", timeout=10)
    assert listing.status_code == 200 and flag.digit_payment_id in listing.text
    assert "ack-button" not in listing.text
    refused = viewer.post(
        f"{live}/ops/reconciliation/{flag.id}/ack",
        data={"note": "looked", "csrf_token": viewer_csrf},
        timeout=10,
    )
    assert refused.status_code == 403

    operator, _ = signed_in(live, "alice")
    page = operator.get(f"{live}/ops/reconciliation", timeout=10)
    empty = operator.post(
        f"{live}/ops/reconciliation/{flag.id}/ack",
        data={"note": "  ", "csrf_token": csrf_of(page.text)},
        timeout=10,
    )
    assert empty.status_code == 200 and "NOTE_REQUIRED" in empty.text
    assert services.flags.unacknowledged() == 1

    listed = viewer.get(f"{live}/ops/reconciliation.json", timeout=10).json()
    assert listed["unacknowledged"] == 1
    [shown] = listed["flags"]
    assert shown["kind"] == "ORPHAN" and shown["digitPaymentId"] == flag.digit_payment_id
    assert shown["receiptNumbers"] == list(flag.receipt_numbers)
    assert (
        viewer.get(f"{live}/ops/reconciliation.json?kind=DUPLICATE", timeout=10).json()["flags"]
        == []
    )
    anonymous = requests.get(f"{live}/ops/reconciliation.json", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302  # to the sign-in page
