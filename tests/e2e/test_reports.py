"""GET /v1/reports/settlement end to end: the integrator and the sandbox over HTTP, real Redis."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from openapi_spec_validator import validate

from integrator.api.reports import init_reports
from integrator.app import create_app
from integrator.observability.web import init_metrics
from integrator.services import services_of
from integrator.settings import Settings
from tests.e2e.conftest import Pos, body_of
from tests.e2e.test_pos_api import AMRITSAR, SW_RAMESH, TL_AMRITSAR, WS_RAMESH, payment_body

KOLKATA = ZoneInfo("Asia/Kolkata")


def wired_app(settings: Settings) -> Flask:
    """create_app plus the reporting parts (idempotent if create_app already wires them)."""
    app = create_app(settings)
    services = services_of(app)
    init_reports(app, payments_store=services.payments_store, timezone=settings.settlement_timezone)
    init_metrics(app, services)
    return app


@pytest.fixture
def app(e2e_settings: Settings, redis: Any, sandbox: str) -> Iterator[Flask]:
    app = wired_app(e2e_settings)
    yield app
    services_of(app).redis.close()


def bill_id(pos: Pos, consumer: str, service: str) -> str:
    bills = pos.bills(tenantId=AMRITSAR, businessService=service, consumerCode=consumer)
    return str(bills[0]["billId"])


@pytest.fixture
def paid(pos: Pos, other_pos: Pos) -> None:
    """pos pays WS (815) and SW (200) in one payment; other_pos pays a trade licence."""
    ws, sw = bill_id(pos, WS_RAMESH, "WS"), bill_id(pos, SW_RAMESH, "SW")
    first = pos.pay(payment_body([(ws, Decimal(815)), (sw, Decimal(200))]), key="settle-1")
    assert first.status_code == 201, first.text
    tl = bill_id(other_pos, TL_AMRITSAR, "TL")
    other = other_pos.pay(payment_body([(tl, Decimal(1500))]), key="settle-2")
    assert other.status_code == 201, other.text


def today() -> str:
    return datetime.now(KOLKATA).date().isoformat()


def report(pos: Pos, **params: Any) -> requests.Response:
    return pos.get("/v1/reports/settlement", **params)


def test_json_report_pages_through_the_device_s_rows_with_exact_amounts(
    pos: Pos, paid: None
) -> None:
    first = report(pos, date=today(), limit=1)
    assert first.status_code == 200, first.text
    page1 = body_of(first)
    assert len(page1["rows"]) == 1 and page1["nextCursor"]
    assert page1["timezone"] == "Asia/Kolkata" and page1["date"] == today()

    page2 = body_of(report(pos, date=today(), limit=1, cursor=page1["nextCursor"]))
    assert len(page2["rows"]) == 1 and page2["nextCursor"] is None

    rows = page1["rows"] + page2["rows"]
    assert {r["consumerCode"]: r["amount"] for r in rows} == {
        WS_RAMESH: Decimal(815),
        SW_RAMESH: Decimal(200),
    }
    assert re.search(r'"amount":\s*815[,}]', report(pos, date=today()).text)  # not 815.0
    row = rows[0]
    assert row["idempotencyKey"] == "settle-1" and row["status"] == "REGISTERED"
    assert row["receiptNumber"] and row["paymentMode"] == "CASH"
    assert row["acceptedAt"].endswith("+05:30") and row["registeredAt"].endswith("+05:30")
    assert row["collectedAt"] is None or row["collectedAt"].endswith("+05:30")
    assert "resolution" in row


def test_csv_report_by_format_or_accept_header(pos: Pos, paid: None) -> None:
    by_param = report(pos, date=today(), format="csv")
    by_accept = requests.get(
        f"{pos.base}/v1/reports/settlement",
        params={"date": today()},
        headers={**pos.headers(), "Accept": "text/csv"},
        timeout=30,
    )

    for response in (by_param, by_accept):
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        records = list(csv.DictReader(io.StringIO(response.text)))
        assert sorted(r["amount"] for r in records) == ["200", "815"]
        assert {r["idempotencyKey"] for r in records} == {"settle-1"}
        assert all(r["receiptNumber"] for r in records)
        assert all((r["offline"], r["uploadedAt"]) == ("false", "") for r in records)
        assert list(records[0])[-2:] == ["offline", "uploadedAt"]  # appended: old columns stay
    assert "settlement-" in by_param.headers["Content-Disposition"]


def test_a_device_sees_only_its_own_payments(other_pos: Pos, paid: None) -> None:
    rows = body_of(report(other_pos, date=today()))["rows"]
    assert [(r["consumerCode"], r["amount"]) for r in rows] == [(TL_AMRITSAR, Decimal(1500))]


def test_the_previous_day_in_kolkata_is_empty(pos: Pos, paid: None) -> None:
    yesterday = (datetime.now(KOLKATA).date() - timedelta(days=1)).isoformat()
    assert body_of(report(pos, date=yesterday))["rows"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"date": "31-03-2026"},
        {"date": "2026-03-31", "format": "xml"},
        {"date": "2026-03-31", "limit": 0},
        {"date": "2026-03-31", "cursor": "forged"},
    ],
)
def test_bad_queries_are_422_problems(pos: Pos, params: dict[str, Any]) -> None:
    response = report(pos, **params)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"date": "9999-12-31"}, "date", "INVALID_DATE"),  # its end overflowed: a 500
        ({"date": "9999-12-31", "format": "csv"}, "date", "INVALID_DATE"),  # a truncated 200
        ({"date": "0001-01-01"}, "date", "INVALID_DATE"),
        ({"date": "1999-12-31", "format": "csv"}, "date", "INVALID_DATE"),
        ({"date": "2026-03-31", "cursor": "9999999999999999.x.0"}, "cursor", "INVALID_CURSOR"),
        ({"date": "2026-03-31", "cursor": "r.9999999999999999.x.0"}, "cursor", "INVALID_CURSOR"),
    ],
)
def test_a_day_or_cursor_out_of_range_is_refused_naming_its_field(
    pos: Pos, params: dict[str, Any], field: str, code: str
) -> None:
    response = report(pos, **params)

    assert response.status_code == 422, response.text
    body = body_of(response)
    assert body["code"] == code
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]


@pytest.mark.parametrize("day", ["2000-01-01", "9999-12-30"])
@pytest.mark.parametrize("format", ["json", "csv"])
def test_the_first_and_last_days_a_report_may_name_are_answered_empty(
    pos: Pos, day: str, format: str
) -> None:
    response = report(pos, date=day, format=format)

    assert response.status_code == 200, response.text
    if format == "json":
        assert body_of(response)["rows"] == []
    else:
        assert response.text.count("\n") == 1  # the header only


def test_the_report_needs_a_device_key(live: str) -> None:
    response = requests.get(f"{live}/v1/reports/settlement", params={"date": today()}, timeout=10)
    assert response.status_code == 401


def test_the_report_is_documented_in_openapi(live: str, app: Flask) -> None:
    document = requests.get(f"{live}/openapi.json", timeout=10).json()
    validate(document)
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, m) for path, ops in document["paths"].items() for m in ops}
    assert ("/v1/reports/settlement", "get") in routes
    assert routes == documented
