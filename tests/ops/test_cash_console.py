"""The collector's day in the ops console (/ops/cash), in a real headless Chromium: a cashier sees
a device's cash in hand and its offline uploads, records a hand-over (a shortfall needs a reason),
closes the day once; a viewer sees the figures and no forms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.security import generate_password_hash

from integrator import jsonutil
from integrator.services import Services
from tests.ops.conftest import AMRITSAR, PASSWORDS, WS_RAMESH
from tests.ops.test_console_browser import browser, flashes, submit

__all__ = ["browser"]  # the module-scoped Chromium of the console's browser tests

CAROL = "carol-password-1"


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    def entry(name: str, role: str, password: str) -> str:
        digest = generate_password_hash(password, method="pbkdf2:sha256:1000")
        return f"{name}:{role}:{digest}"

    return (entry("carol", "cashier", CAROL), entry("bob", "viewer", PASSWORDS["bob"]))


@pytest.fixture
def page(browser: WebDriver, live: str) -> Iterator[WebDriver]:
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()


def sign_in(driver: WebDriver, live: str, name: str, password: str) -> None:
    driver.get(f"{live}/ops/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver, "sign-in")
    assert driver.find_element(By.ID, "who").text.startswith(name)


def collect_offline(live: str, services: Services) -> str:
    """A device collects 815 in cash offline and uploads it; its name."""
    _device, key = services.devices.add("field-7", [AMRITSAR])
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bills = requests.get(
        f"{live}/v1/bills",
        params={"tenantId": AMRITSAR, "businessService": "WS", "consumerCode": WS_RAMESH},
        headers=headers,
        timeout=30,
    ).json()["bills"]
    batch = {
        "payments": [
            {
                "idempotencyKey": "field-7-0001",
                "tenantId": AMRITSAR,
                "paymentMode": "CASH",
                "paidBy": "Ramesh Kumar",
                "collectedAt": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
                "bills": [{"billId": bills[0]["billId"], "amount": 815}],
            }
        ]
    }
    answer = requests.post(
        f"{live}/v1/payments/batch", data=jsonutil.dumps(batch), headers=headers, timeout=60
    )
    assert answer.json()["payments"][0]["outcome"] == "accepted", answer.text
    return "field-7"


def test_a_cashier_records_a_shortfall_with_its_reason_and_closes_the_day(
    page: WebDriver, live: str, services: Services
) -> None:
    device = collect_offline(live, services)
    sign_in(page, live, "carol", CAROL)
    page.find_element(By.LINK_TEXT, "Cash").click()
    page.find_element(By.ID, "cash-device").send_keys(device)
    submit(page, "cash-show")
    assert "815" in page.find_element(By.ID, "in-hand").text
    assert "accepted" in page.find_element(By.ID, "offline-uploads").text
    cash_page = page.current_url
    page.find_element(By.CSS_SELECTOR, "#offline-uploads a").click()
    assert "180 min after it was collected" in page.find_element(By.ID, "offline").text
    page.get(cash_page)

    page.find_element(By.ID, "handover-counted").send_keys("800")
    submit(page, "handover")
    assert "REASON_REQUIRED" in flashes(page)
    page.find_element(By.ID, "handover-counted").send_keys("800")
    page.find_element(By.ID, "handover-reason").send_keys("a torn note")
    submit(page, "handover")

    row = page.find_element(By.CSS_SELECTOR, "#day-figures tr.day-row")
    assert row.find_element(By.CSS_SELECTOR, ".difference").text == "-15"
    assert row.find_element(By.CSS_SELECTOR, ".outstanding").text == "0"
    assert "a torn note" in page.find_element(By.ID, "handovers").text
    # today has not ended: the close is refused, and says why
    submit(page, "close-day")
    assert "DAY_NOT_OVER" in flashes(page)


def test_a_viewer_sees_the_day_but_cannot_hand_over_or_close(
    page: WebDriver, live: str, services: Services
) -> None:
    device = collect_offline(live, services)
    sign_in(page, live, "bob", PASSWORDS["bob"])
    page.get(f"{live}/ops/cash/?device={device}")

    assert "815" in page.find_element(By.ID, "day-figures").text
    assert not page.find_elements(By.ID, "handover-form")
    assert not page.find_elements(By.ID, "close-form")
    csv = requests.get(
        f"{live}/ops/cash/day.csv",
        params={"device": device},
        cookies={c["name"]: c["value"] for c in page.get_cookies()},
        timeout=10,
    )
    assert csv.status_code == 200 and csv.text.startswith("scope,scopeId,date")
