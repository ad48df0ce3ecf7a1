"""The documents of the real app, end to end: /docs renders in a real browser with the operations,
their examples, the payment-mode table and the error catalogue; and the answers of the real app
(over the DIGIT sandbox) write times with DIGIT_TIMEZONE's offset and amounts as whole rupees."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from integrator.api.problems import CATALOGUE
from tests.e2e.conftest import Pos
from tests.ops.test_console_browser import browser  # noqa: F401  (the fixture, by name)

WS_RAMESH = "WS/107/2019-20/000022"
IST = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+05:30")


def test_the_docs_page_renders_operations_examples_modes_and_catalogue(
    browser: WebDriver,  # noqa: F811
    live: str,
) -> None:
    browser.get(f"{live}/docs#problem-FRACTIONAL_AMOUNT")
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.ID, "createPayment"))
    )

    operations = browser.find_elements(By.CSS_SELECTOR, "#ops details.op")
    assert len(operations) >= 7  # the six PoS operations and the settlement report
    examples = " ".join(p.get_attribute("textContent") or "" for p in browser.find_elements(
        By.CSS_SELECTOR, "#ops pre"))  # fmt: skip
    assert '"amount": 815' in examples and '"paymentMode": "CHEQUE"' in examples
    assert "+05:30" in examples
    cheque = browser.find_element(By.ID, "mode-CHEQUE").text
    assert "instrumentNumber" in cheque and "instrumentDate" in cheque
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[id^='problem-']")
    assert len(rows) == len(CATALOGUE)
    target = browser.find_element(By.ID, "problem-FRACTIONAL_AMOUNT")
    assert "whole rupees" in target.text


def test_the_real_documents_list_every_code_and_the_reports_route(live: str) -> None:
    document = requests.get(f"{live}/openapi.json", timeout=10).json()

    assert {e["code"] for e in document["x-problem-codes"]} == set(CATALOGUE)
    assert "/v1/reports/settlement" in document["paths"]


def walk(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in walk(v, k)]
    if isinstance(value, list):
        return [pair for v in value for pair in walk(v, key)]
    return [(key, value)]


def test_a_sandbox_bill_and_its_payment_are_written_one_way(pos: Pos) -> None:
    bills = pos.get(
        "/v1/bills", tenantId="pb.amritsar", businessService="WS", consumerCode=WS_RAMESH
    )
    [bill] = bills.json()["bills"]
    paid = pos.pay(
        {
            "tenantId": "pb.amritsar",
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": bill["billId"], "amount": Decimal("815.00")}],
        },
        key="docs-e2e-1",
    )

    assert paid.status_code in (201, 202), paid.text
    times = 0
    for response in (bills, paid):
        for key, value in walk(response.json()):
            if re.search(r"(Date|At|From|To)$", key) and value is not None:
                assert IST.fullmatch(value), (key, value)
                times += 1
        assert not re.search(r'"(amount|totalAmount|minimumPayable|maximumPayable)":-?\d+\.0*[,}]',
                             response.text), response.text  # fmt: skip
    assert times >= 5
    assert '"amount":815,' in paid.text.replace(" ", "")
