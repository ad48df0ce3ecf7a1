"""The settlement report shows a reversal on the day DIGIT carried it out: the payment keeps its
row on the day it was accepted (status CANCELLED), and that later day gets a REVERSAL row with
the amount taken back."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from integrator.payments.cancellation import Cancellations
from integrator.services import Services
from tests.e2e.conftest import body_of
from tests.integration.cancellation.conftest import ASHA, RAVI, Device, ask_to_cancel, pay


def _rows(device: Device, day: str) -> list[dict[str, Any]]:
    answer = device.pos.get("/v1/reports/settlement", date=day)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = body_of(answer)["rows"]
    return rows


def test_a_cancellation_is_a_reversal_row_on_its_own_day(
    device: Device, services: Services, cancellations: Cancellations
) -> None:
    tz = services.settings.settlement_timezone
    paid = pay(device.pos)
    with services.db.transaction() as conn:  # accepted yesterday
        conn.execute(
            "UPDATE payments SET created_at = created_at - interval '1 day' WHERE id = %s",
            (paid["id"],),
        )
    made = cancellations.request_by_operator(
        operator=RAVI, payment_id=paid["id"], reason="Wrong consumer"
    )
    cancellations.approve(made.id, operator=ASHA)
    today = datetime.now(tz).date()
    yesterday = today - timedelta(days=1)

    [accepted] = _rows(device, yesterday.isoformat())
    [reversal] = _rows(device, today.isoformat())

    assert (accepted["paymentId"], accepted["entry"], accepted["status"]) == (
        paid["id"],
        "PAYMENT",
        "CANCELLED",
    )
    assert accepted["amount"] == paid["totalAmount"] and accepted["reversedAt"] is None
    assert (reversal["paymentId"], reversal["entry"]) == (paid["id"], "REVERSAL")
    assert reversal["amount"] == -paid["totalAmount"] and reversal["amount"] < Decimal(0)
    assert reversal["reversedAt"] and reversal["receiptNumber"] == accepted["receiptNumber"]

    csv = device.pos.get("/v1/reports/settlement", date=today.isoformat(), format="csv").text
    header, line = csv.strip().splitlines()
    assert header.endswith("entry,reversedAt,offline,uploadedAt")
    assert f",-{paid['totalAmount']}," in line and ",REVERSAL," in line


def test_reversal_rows_page_after_the_day_s_payments(
    device: Device, services: Services, cancellations: Cancellations
) -> None:
    tz = services.settings.settlement_timezone
    first = pay(device.pos)
    other = pay(device.pos, consumer="PT-107-000124")
    request = body_of(ask_to_cancel(device.pos, first["id"]))
    cancellations.approve(request["id"], operator=ASHA)
    today = datetime.now(tz).date().isoformat()

    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"date": today, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = body_of(device.pos.get("/v1/reports/settlement", **params))
        seen += [(r["paymentId"], r["entry"]) for r in page["rows"]]
        cursor = page["nextCursor"]
        if not cursor:
            break

    assert seen == [
        (other["id"], "PAYMENT"),
        (first["id"], "PAYMENT"),
        (first["id"], "REVERSAL"),
    ]
