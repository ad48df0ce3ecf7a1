"""The ops console in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Skipped with a reason when chromium is missing outside CI (run bin/ensure-browser); with CI=true
a missing browser fails the run instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rq import Queue
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from integrator.jobs.scheduling import job_id_for
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.ops.conftest import PASSWORDS, make_payment

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (run bin/ensure-browser)"
    if not Path(CHROMEDRIVER).exists():
        return "chromium-driver is not installed (run bin/ensure-browser)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {missing}")
        pytest.skip(missing)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # no Selenium Manager telemetry
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, live: str) -> Iterator[WebDriver]:
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()


def sign_in(driver: WebDriver, live: str, name: str) -> None:
    driver.get(f"{live}/ops/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    submit(driver, "sign-in")
    assert driver.find_element(By.ID, "who").text.startswith(name)


def submit(driver: WebDriver, button_id: str) -> None:
    """Click a form's button and wait until the next page has replaced this one."""
    button = driver.find_element(By.ID, button_id)
    button.click()
    WebDriverWait(driver, 10).until(_replaced(button))


def _replaced(element: WebElement) -> Callable[[WebDriver], bool]:
    """True once `element`'s page is gone. Chromium reports a node of a page being replaced
    either as stale or, mid-navigation, as an inspector error ("Node with given id does not
    belong to the document"): both mean the old page is gone."""

    def check(_driver: WebDriver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return check


def flashes(driver: WebDriver) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".flash"))


def test_operator_signs_in_searches_and_retries(
    page: WebDriver, live: str, services: Services
) -> None:
    payment = make_payment(services, bill_id="b-retry", consumer_code="WS/OPS/1")
    make_payment(services, bill_id="b-other", consumer_code="WS/OPS/2")

    sign_in(page, live, "alice")
    assert page.find_element(By.CSS_SELECTOR, "#count-NEEDS_ATTENTION .n").text == "2"
    page.find_element(By.LINK_TEXT, "Payments").click()
    page.find_element(By.ID, "search-consumer").send_keys("WS/OPS/1")
    Select(page.find_element(By.ID, "search-status")).select_by_value("NEEDS_ATTENTION")
    submit(page, "search")
    rows = page.find_elements(By.CSS_SELECTOR, "tr.payment-row")
    assert [r.get_attribute("data-payment-id") for r in rows] == [payment.id]

    page.find_element(By.LINK_TEXT, payment.id).click()
    history = page.find_elements(By.CSS_SELECTOR, "tr.history-row")
    assert any(
        "DIGIT_REJECTED" in r.text and "SOME_CODE" in r.text and "42 ms" in r.text for r in history
    )
    submit(page, "retry")

    assert "Retry scheduled" in flashes(page)
    assert page.find_element(By.ID, "payment-status").text == "PENDING"
    last = page.find_elements(By.CSS_SELECTOR, "tr.history-row")[-1].text
    assert "operator:alice" in last and "OPERATOR_RETRY" in last
    assert job_id_for(payment.id) in Queue("registration", connection=services.redis).job_ids


def test_operator_resolves_a_payment_as_refunded(
    page: WebDriver, live: str, services: Services
) -> None:
    payment = make_payment(services)  # the sandbox's current WS bill: nothing paid in DIGIT

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments?id={payment.id}")
    page.find_element(By.LINK_TEXT, payment.id).click()
    Select(page.find_element(By.ID, "resolution-select")).select_by_value("REFUNDED")
    page.find_element(By.ID, "note").send_keys("cash returned to the payer")
    submit(page, "resolve")

    assert "RESOLVED as REFUNDED" in flashes(page)
    assert page.find_element(By.ID, "payment-status").text == "RESOLVED"
    assert page.find_element(By.ID, "resolution").text == "REFUNDED"
    assert not page.find_elements(By.ID, "actions")  # final: nothing left to do
    stored = services.payments_store.get(payment.id)
    assert stored is not None and stored.status is PaymentStatus.RESOLVED


def test_a_refused_resolution_is_shown_and_changes_nothing(
    page: WebDriver, live: str, services: Services
) -> None:
    payment = make_payment(services, bill_id="b-1")

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments/{payment.id}")
    Select(page.find_element(By.ID, "resolution-select")).select_by_value("RECEIPTED_BY_HAND")
    page.find_element(By.ID, "receipt-number").send_keys("NO/SUCH/RECEIPT")
    page.find_element(By.ID, "note").send_keys("by hand")
    submit(page, "resolve")

    assert "RECEIPT_NOT_FOUND" in flashes(page)
    assert page.find_element(By.ID, "payment-status").text == "NEEDS_ATTENTION"


def test_a_viewer_sees_payments_but_no_actions(
    page: WebDriver, live: str, services: Services
) -> None:
    payment = make_payment(services, bill_id="b-1")

    sign_in(page, live, "bob")
    page.get(f"{live}/ops/payments/{payment.id}")
    assert page.find_element(By.ID, "payment-status").text == "NEEDS_ATTENTION"
    assert not page.find_elements(By.ID, "retry")
    assert not page.find_elements(By.ID, "resolve")
    page.get(f"{live}/ops/payments?status=NEEDS_ATTENTION")
    assert not page.find_elements(By.ID, "retry-matching")


def test_sign_out(page: WebDriver, live: str) -> None:
    sign_in(page, live, "alice")
    submit(page, "logout")
    assert page.find_elements(By.ID, "login-form")
    page.get(f"{live}/ops/")
    assert page.find_elements(By.ID, "login-form")
