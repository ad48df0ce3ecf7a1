"""The ops console as a city's ops staff use it, in real Chromium: the payment list's filters,
total, pages, CSV export and auto-refresh; confirmed bulk retries; the payment page's decision
aids; the dashboard's day; the phone-sized screen; one labelled time zone.

Screenshots are kept in test-artefacts/ (TEST_ARTEFACTS_DIR overrides) for people to look at.
"""

from __future__ import annotations

import base64
import csv
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.services import Services
from integrator.store import keys
from integrator.store.operator_actions import OperatorActionStore
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import counter_payment, make_payment, signed_in
from tests.ops.test_console_browser import (  # noqa: F401 (fixtures)
    browser,
    flashes,
    page,
    sign_in,
    submit,
)

ROOT = Path(__file__).resolve().parents[2]


def artefact(name: str) -> Path:
    folder = Path(os.environ.get("TEST_ARTEFACTS_DIR") or ROOT / "test-artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def screenshot(driver: WebDriver, name: str) -> None:
    """The whole page (not only the window) as a PNG artefact."""
    shot = driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    artefact(name).write_bytes(base64.b64decode(shot["data"]))


def paid_elsewhere(services: Services, **overrides: object) -> Payment:
    payment = make_payment(services, status=PaymentStatus.PENDING, **overrides)  # type: ignore[arg-type]
    moved = states.transition(
        payment,
        PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="BILL_PAID_ELSEWHERE",
        at=datetime.now(UTC),
        codes=("BILL_ALREADY_PAID",),
    )
    return services.payments_store.save(moved, fence=None)


def listed(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.payment-row")
    return [str(r.get_attribute("data-payment-id")) for r in rows]


def test_the_list_filters_by_device_mode_reason_city_and_days_with_a_total(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    device, _ = services.devices.add("counter-7", ["pb.amritsar"])
    cash = make_payment(services, bill_id="b-1", consumer_code="C-1", device_id=device.id)
    card = make_payment(
        services, bill_id="b-2", consumer_code="C-2", payment_mode="CARD", tenant_id="pb.jalandhar"
    )
    hopeless = paid_elsewhere(services, bill_id="b-3", consumer_code="C-3")
    old = make_payment(
        services,
        bill_id="b-4",
        consumer_code="C-4",
        created_at=datetime(2026, 11, 20, 20, 0, tzinfo=UTC),  # 01:30 on the 21st in Kolkata
    )

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments")
    assert page.find_element(By.ID, "total").text == "4"
    assert "Times in Asia/Kolkata (DIGIT_TIMEZONE)" in page.find_element(By.ID, "tz-note").text
    assert "Created (Asia/Kolkata)" in page.find_element(By.ID, "payments").text

    page.find_element(By.ID, "search-device").send_keys("counter-7")
    submit(page, "search")
    assert listed(page) == [cash.id]
    assert page.find_element(By.CSS_SELECTOR, "td.device").text == "counter-7"
    assert page.find_element(By.ID, "total").text == "1"

    page.get(f"{live}/ops/payments")
    Select(page.find_element(By.ID, "search-mode")).select_by_value("CARD")
    submit(page, "search")
    assert listed(page) == [card.id]

    page.get(f"{live}/ops/payments")
    Select(page.find_element(By.ID, "search-reason")).select_by_value("BILL_PAID_ELSEWHERE")
    submit(page, "search")
    assert listed(page) == [hopeless.id]

    page.get(f"{live}/ops/payments?tenant=pb.jalandhar")
    assert listed(page) == [card.id]
    page.get(f"{live}/ops/payments?from=2026-11-21&to=2026-11-21")
    assert listed(page) == [old.id]
    assert page.find_element(By.CSS_SELECTOR, "tr.payment-row td:nth-child(2)").text == (
        "2026-11-21 01:30:00"
    )
    screenshot(page, "ops-payments-filtered.png")


def test_the_list_pages_both_ways_and_exports_the_filtered_list_as_csv(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    device, _ = services.devices.add("counter-8", ["pb.amritsar"])
    start = datetime.now(UTC) - timedelta(hours=2)
    made = [
        make_payment(
            services,
            bill_id=f"b-{i}",
            consumer_code=f"C-{i}",
            device_id=device.id,
            created_at=start + timedelta(seconds=i),
        )
        for i in range(53)
    ]
    make_payment(services, bill_id="b-other", consumer_code="C-x", payment_mode="CARD")

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments?mode=CASH")
    assert page.find_element(By.ID, "total").text == "53"
    assert len(listed(page)) == 50 and listed(page)[0] == made[-1].id
    assert not page.find_elements(By.ID, "newer-page")
    page.find_element(By.ID, "older-page").click()
    assert listed(page) == [p.id for p in reversed(made[:3])]
    assert page.find_element(By.ID, "page").text == "2"
    page.find_element(By.ID, "newer-page").click()
    assert len(listed(page)) == 50 and page.find_element(By.ID, "page").text == "1"

    export = str(page.find_element(By.ID, "export").get_attribute("href"))
    assert "mode=CASH" in export
    http, _ = signed_in(live, "alice")
    answer = http.get(export, timeout=20)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][0] == "created_at (Asia/Kolkata)" and "device_name" in rows[0]
    assert len(rows) == 1 + 53
    assert {r[rows[0].index("device_name")] for r in rows[1:]} == {"counter-8"}
    assert {r[rows[0].index("payment_mode")] for r in rows[1:]} == {"CASH"}


def test_the_list_refreshes_itself_and_says_when(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    sign_in(page, live, "bob")
    page.get(f"{live}/ops/payments?refresh=2")
    first = page.find_element(By.ID, "updated-at").text
    assert first.startswith("updated at ") and "(Asia/Kolkata)" in first
    make_payment(services, bill_id="b-new", consumer_code="C-new")
    WebDriverWait(page, 15).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.payment-row")) == 1
    )
    assert page.find_element(By.ID, "updated-at").text != first


def test_a_bulk_retry_is_confirmed_with_count_and_sample_and_skips_what_cannot_help(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    a = make_payment(services, bill_id="b-1", consumer_code="C-1")
    b = make_payment(services, bill_id="b-2", consumer_code="C-2")
    hopeless = paid_elsewhere(services, bill_id="b-3", consumer_code="C-3")

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments?status=NEEDS_ATTENTION")
    for pid in (a.id, hopeless.id):
        page.find_element(By.CSS_SELECTOR, f"tr[data-payment-id='{pid}'] input.row-select").click()
    submit(page, "retry-selected")

    assert page.find_element(By.ID, "plan-count").text == "1"
    assert page.find_element(By.ID, "plan-skipped").text == "1"
    assert "BILL_PAID_ELSEWHERE" in page.find_element(By.ID, "plan-skips").text
    sample = page.find_elements(By.CSS_SELECTOR, "tr.sample-row")
    assert len(sample) == 1 and a.id in sample[0].text
    # nothing is done before the confirmation
    assert services.payments_store.get(a.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]
    screenshot(page, "ops-bulk-retry-confirm.png")
    submit(page, "confirm-retry")

    assert "retried 1, skipped 1 (BILL_PAID_ELSEWHERE: 1)" in flashes(page)
    assert services.payments_store.get(a.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    assert services.payments_store.get(b.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]
    assert services.payments_store.get(hopeless.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]

    # every NEEDS_ATTENTION payment of a search: the same confirmation first
    page.get(f"{live}/ops/payments?status=NEEDS_ATTENTION")
    submit(page, "retry-matching")
    assert page.find_element(By.ID, "plan-count").text == "1"  # b; the hopeless one skipped
    page.find_element(By.ID, "cancel-retry").click()
    assert services.payments_store.get(b.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]

    refused = [x for x in OperatorActionStore(services.db).for_payment(hopeless.id)]
    assert [(x.outcome, x.code) for x in refused] == [("refused", "BILL_PAID_ELSEWHERE")]


def test_the_payment_page_shows_the_competing_payment_the_flag_and_what_to_decide(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
    world: Sandbox,
) -> None:
    theirs = counter_payment(world)
    detail = theirs["paymentDetails"][0]
    ours = paid_elsewhere(services, bill_id=detail["billId"])
    flagged = make_payment(
        services,
        bill_id="b-flag",
        consumer_code="C-flag",
        status=PaymentStatus.REGISTERED,
        registered_at=datetime.now(UTC),
    )
    services.reconciliation.flag(
        flagged.id,
        reason="CANCELLED",
        digit_payment_id="DIGIT-PAY-1",
        digit_status="CANCELLED",
        at=datetime.now(UTC),
    )

    sign_in(page, live, "alice")
    page.get(f"{live}/ops/payments/{ours.id}")
    competing = page.find_element(By.ID, "competing").text
    assert detail["receiptNumber"] in competing
    assert str(int(float(theirs["totalAmountPaid"]))) in competing
    assert (theirs.get("payerName") or theirs.get("paidBy") or "") in competing
    assert "Someone else paid this bill" in page.find_element(By.ID, "guidance").text
    assert page.find_element(By.ID, "no-retry").is_displayed()
    assert not page.find_elements(By.ID, "retry")  # a retry cannot help: not offered
    assert page.find_element(By.ID, "resolve").is_displayed()
    screenshot(page, "ops-payment-paid-elsewhere.png")

    page.get(f"{live}/ops/payments/{flagged.id}")
    # shown once, in the panel where the operator decides
    [flag] = page.find_elements(By.CSS_SELECTOR, "#reconciliation-flags li")
    assert page.find_elements(By.CSS_SELECTOR, "#decide #reconciliation-flags li") == [flag]
    assert "CANCELLED" in flag.text and "DIGIT-PAY-1" in flag.text
    assert "unless reconciliation flagged it" in page.find_element(By.ID, "guidance").text
    assert page.find_elements(By.CSS_SELECTOR, "li.flag-open, li.flag-acknowledged") == [flag]


def test_resolved_rows_show_the_resolution(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    payment = make_payment(services)
    http, csrf = signed_in(live, "alice")
    done = http.post(
        f"{live}/ops/payments/{payment.id}/resolve",
        data={"csrf_token": csrf, "resolution": "REFUNDED", "note": "cash returned"},
        timeout=20,
    )
    assert done.status_code == 200
    sign_in(page, live, "bob")
    page.get(f"{live}/ops/payments?status=RESOLVED")
    assert page.find_element(By.CSS_SELECTOR, "td.reason").text == "resolved: REFUNDED"


def test_the_dashboard_shows_today_by_city_and_mode_and_how_long_digit_is_down(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
) -> None:
    make_payment(services, bill_id="b-1", consumer_code="C-1", amount=815)  # type: ignore[arg-type]
    make_payment(services, bill_id="b-2", consumer_code="C-2", amount=100)  # type: ignore[arg-type]
    make_payment(services, bill_id="b-3", consumer_code="C-3", payment_mode="CARD", amount=50)  # type: ignore[arg-type]
    make_payment(
        services,
        bill_id="b-4",
        consumer_code="C-4",
        created_at=datetime.now(UTC) - timedelta(days=3),
    )
    down = datetime.now(UTC) - timedelta(minutes=12)
    services.redis.set(keys.digit_down_since(), down.isoformat())

    sign_in(page, live, "bob")
    assert page.find_element(By.ID, "today-count").text == "3"
    assert page.find_element(By.ID, "today-amount").text == "965"
    rows = [r.text for r in page.find_elements(By.CSS_SELECTOR, "tr.volume-row")]
    assert rows == ["pb.amritsar CASH 2 915 0 915", "pb.amritsar CARD 1 50 0 50"]
    assert page.find_element(By.ID, "today-reversed").text == "0"
    assert "Unreachable for 12 min" in page.find_element(By.ID, "digit-down-since").text
    assert page.find_element(By.ID, "digit-cities").is_displayed()
    assert page.find_element(By.ID, "workers-alive").text == "0"
    screenshot(page, "ops-dashboard.png")


@pytest.mark.parametrize("path", ["/ops/", "/ops/payments", "/ops/payments/{payment}"])
def test_the_console_fits_a_phone_and_keeps_sign_out(
    page: WebDriver,  # noqa: F811
    live: str,
    services: Services,
    path: str,
) -> None:
    made = make_payment(services, bill_id="b-1", consumer_code="C-1")
    path = path.replace("{payment}", made.id)
    # exactly a 390 x 844 CSS-pixel phone screen (a window size would include its frame)
    page.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True},
    )
    try:
        sign_in(page, live, "alice")
        page.get(f"{live}{path}")
        width = page.execute_script("return document.documentElement.clientWidth")
        assert width <= 390
        button = page.find_element(By.ID, "logout")
        assert button.is_displayed()
        right = button.rect["x"] + button.rect["width"]
        assert right <= width, f"Sign out is off screen ({right} > {width})"
        # the page itself does not scroll sideways (wide tables scroll in their own box)
        wide = page.execute_script(
            "const w = document.documentElement.clientWidth + 1;"
            "return [...document.querySelectorAll('main *, header *')]"
            ".filter(e => e.getBoundingClientRect().right > w && !e.closest('.scroll'))"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)"
        )
        assert wide == [], f"wider than the screen: {wide}"
        scroll_width = page.execute_script("return document.documentElement.scrollWidth")
        assert scroll_width <= width + 1, scroll_width
        name = {"/ops/": "dashboard", "/ops/payments": "payments"}.get(path, "payment")
        page.save_screenshot(str(artefact(f"ops-phone-{name}-390x844.png")))
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # type: ignore[attr-defined]
