"""`DigitClient.payments_between`: a module's payments of a city in a date range, every page
(`responses` stands in for DIGIT)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.digit.errors import DigitForbidden
from tests.unit.digit.digit_unit_helpers import (
    BASE,
    TOKEN_URL,
    add_json,
    payment_response,
    token_answer,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
START = datetime(2026, 11, 29, tzinfo=KOLKATA)
END = START + timedelta(days=1)
URL = f"{BASE}/collection-services/payments/WS/_search"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def logged_in(rsps: Any) -> Any:
    add_json(rsps, TOKEN_URL, token_answer())
    return rsps


def _payment(n: int, at: datetime) -> dict[str, Any]:
    payment = payment_response()["Payments"][0]
    return {**payment, "id": f"pay-{n}", "transactionDate": int(at.timestamp() * 1000)}


def test_a_range_walk_sends_the_dates_as_epoch_ms_and_follows_every_page(
    logged_in: Any, client: DigitClient
) -> None:
    # 250 payments on the day, newest first, and 20 on the next day that DIGIT's widened
    # toDate also returns: only the day's are kept
    day = [_payment(n, END - timedelta(minutes=n + 1)) for n in range(250)]
    next_day = [_payment(1000 + n, END + timedelta(minutes=n)) for n in range(20)]
    everything = sorted(next_day + day, key=lambda p: p["transactionDate"], reverse=True)
    asked: list[dict[str, str]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        asked.append(q)
        offset, limit = int(q["offset"]), min(int(q["limit"]), 100)
        body = {"ResponseInfo": None, "Payments": everything[offset : offset + limit]}
        return 200, JSON, jsonutil.dumps(body)

    logged_in.add_callback("POST", URL, callback=answer)

    found, cut = client.payments_between(tenant_id="pb.amritsar", module="WS", start=START, end=END)

    assert not cut
    assert sorted(p.id for p in found) == sorted(p["id"] for p in day)
    assert [q["offset"] for q in asked] == ["0", "100", "200"]
    assert all(q["limit"] == "100" and q["tenantId"] == "pb.amritsar" for q in asked)
    assert asked[0]["fromDate"] == str(int(START.timestamp() * 1000))
    assert asked[0]["toDate"] == str(int(END.timestamp() * 1000))
    assert "billIds" not in asked[0] and "consumerCodes" not in asked[0]


def test_a_payment_arriving_during_the_walk_pushes_others_down_and_none_is_lost(
    logged_in: Any, client: DigitClient
) -> None:
    day = [_payment(n, END - timedelta(minutes=n + 1)) for n in range(150)]
    pages = 0

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        nonlocal pages
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        pages += 1
        current = list(day)
        if pages > 1:  # a new payment, newest of all, after the first page was read
            current.insert(0, _payment(999, END - timedelta(seconds=1)))
        offset = int(q["offset"])
        body = {"ResponseInfo": None, "Payments": current[offset : offset + 100]}
        return 200, JSON, jsonutil.dumps(body)

    logged_in.add_callback("POST", URL, callback=answer)

    found, cut = client.payments_between(tenant_id="pb.amritsar", module="WS", start=START, end=END)

    assert not cut
    assert {p["id"] for p in day} <= {p.id for p in found}
    assert len(found) == len({p.id for p in found})


def test_a_range_walk_refused_by_access_control_raises_forbidden(
    logged_in: Any, client: DigitClient
) -> None:
    logged_in.add(
        "POST",
        URL,
        status=403,
        json={"Errors": [{"code": "Forbidden", "message": "Not authorized"}]},
    )
    with pytest.raises(DigitForbidden):
        client.payments_between(tenant_id="pb.amritsar", module="WS", start=START, end=END)


def test_a_range_needs_timezone_aware_datetimes(client: DigitClient) -> None:
    with pytest.raises(ValueError):
        client.payments_between(
            tenant_id="pb.amritsar",
            module="WS",
            start=START.replace(tzinfo=None),
            end=END,
        )
