"""GET /v1/reports/settlement: a device's payments accepted on one day (JSON pages or CSV).

    init_reports(app, payments_store=..., timezone=...)    called once by create_app

The route lives on its own blueprint (registered under /v1 with the device-key check, as the PoS
blueprint is) and documents itself in /openapi.json through `openapi.add_paths`. The same rows
for every device are `integrator.payments.settlement.settlement_rows(store, day, tz)`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import Schema, fields, validate

from integrator.api.access import current_device, require_device
from integrator.api.errors import ApiError, FieldError
from integrator.api.openapi import JSON, add_paths
from integrator.api.pos import load_args
from integrator.api.schemas import Money, StrictDate, StrictSchema, coded
from integrator.payments import settlement
from integrator.payments.settlement import PaymentsByDay, SettlementRow

reports_bp = Blueprint("reports", __name__)

EXTENSION_KEY = "integrator.api.reports"
CSV = "text/csv"
DEFAULT_LIMIT = 100


@dataclass(frozen=True, kw_only=True)
class ReportsConfig:
    payments: PaymentsByDay
    timezone: ZoneInfo


def init_reports(app: Flask, *, payments_store: PaymentsByDay, timezone: ZoneInfo) -> None:
    """Serve /v1/reports/* for devices (device key, rate limit) and document it."""
    from integrator.api import before_blueprint

    if EXTENSION_KEY in app.extensions:  # already wired (idempotent)
        return
    app.extensions[EXTENSION_KEY] = ReportsConfig(payments=payments_store, timezone=timezone)
    app.register_blueprint(reports_bp, url_prefix="/v1")
    before_blueprint(app, reports_bp, require_device)
    add_paths(app, document_paths)


def _config() -> ReportsConfig:
    config = current_app.extensions[EXTENSION_KEY]
    assert isinstance(config, ReportsConfig)
    return config


# --- schemas ---------------------------------------------------------------------------------


class SettlementQuerySchema(StrictSchema):
    """GET /v1/reports/settlement?date=YYYY-MM-DD[&format=csv|json][&cursor=][&limit=]"""

    date = StrictDate(required=True, metadata={"description": "The day, in the settlement zone."})
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(["csv", "json"], error=coded("INVALID_FORMAT", "csv or json.")),
        metadata={"description": "Overrides the Accept header (default JSON)."},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=120),
        metadata={"description": "`nextCursor` of the previous page (JSON only)."},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(
            min=1, max=settlement.MAX_LIMIT, error=coded("LIMIT_OUT_OF_RANGE", "From 1 to 500.")
        ),
        metadata={"description": "Rows per page (JSON only)."},
    )


class SettlementRowSchema(Schema):
    paymentId = fields.String(attribute="payment_id")
    deviceId = fields.String(attribute="device_id")
    idempotencyKey = fields.String(attribute="idempotency_key")
    tenantId = fields.String(attribute="tenant_id")
    billId = fields.String(attribute="bill_id")
    billNumber = fields.String(attribute="bill_number")
    consumerCode = fields.String(attribute="consumer_code")
    businessService = fields.String(attribute="business_service")
    amount = Money(metadata={"type": "number", "description": "Rupees, exact."})
    paymentMode = fields.String(attribute="payment_mode")
    status = fields.String()
    receiptNumber = fields.String(attribute="receipt_number", allow_none=True)
    collectedAt = fields.DateTime(attribute="collected_at", allow_none=True)
    acceptedAt = fields.DateTime(attribute="accepted_at")
    registeredAt = fields.DateTime(attribute="registered_at", allow_none=True)
    resolution = fields.String(allow_none=True)


class SettlementPageSchema(Schema):
    date = fields.Date()
    timezone = fields.String()
    rows = fields.List(fields.Nested(SettlementRowSchema))
    nextCursor = fields.String(attribute="next_cursor", allow_none=True)


# --- the view --------------------------------------------------------------------------------


@reports_bp.get("/reports/settlement")
def settlement_report() -> Any:
    query = load_args(SettlementQuerySchema())
    device = current_device()
    config = _config()
    day: date = query["date"]
    if _wants_csv(query["format"]):
        rows = settlement.iter_settlement_rows(config.payments, day, config.timezone, device.id)
        response = Response(_csv_lines(rows), status=200, mimetype=CSV)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="settlement-{day.isoformat()}.csv"'
        )
        return response
    try:
        page = settlement.settlement_rows(
            config.payments,
            day,
            config.timezone,
            device_id=device.id,
            cursor=query["cursor"],
            limit=query["limit"],
        )
    except settlement.InvalidCursor:
        message = "The cursor is not one this report returned."
        raise ApiError(
            message,
            status=422,
            code="INVALID_CURSOR",
            errors=[FieldError("cursor", "INVALID_CURSOR", message)],
        ) from None
    return SettlementPageSchema().dump(
        {
            "date": day,
            "timezone": config.timezone.key,
            "rows": page.rows,
            "next_cursor": page.next_cursor,
        }
    )


def _wants_csv(explicit: str | None) -> bool:
    if explicit is not None:
        return explicit == "csv"
    best = request.accept_mimetypes.best_match([JSON, CSV], default=JSON)
    return best == CSV


def _csv_lines(rows: Iterator[SettlementRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(settlement.CSV_COLUMNS)
    yield _drain(buffer)
    for row in rows:
        writer.writerow(settlement.csv_record(row))
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


# --- OpenAPI ---------------------------------------------------------------------------------


def document_paths(spec: APISpec) -> None:
    spec.path(
        path="/v1/reports/settlement",
        operations={
            "get": {
                "operationId": "settlementReport",
                "summary": "This device's payments accepted on one day, one row per bill",
                "description": (
                    "The day is the calendar day in SETTLEMENT_TIMEZONE (Asia/Kolkata by "
                    "default). JSON is paged (`limit`, `nextCursor`); CSV (`format=csv` or "
                    "`Accept: text/csv`) is the whole day. Amounts are exact decimals."
                ),
                "parameters": [{"in": "query", "schema": SettlementQuerySchema}, "RequestId"],
                "responses": {
                    "200": {
                        "description": "The report",
                        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
                        "content": {
                            JSON: {"schema": SettlementPageSchema},
                            CSV: {"schema": {"type": "string"}},
                        },
                    },
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "422": {"$ref": "#/components/responses/Unprocessable"},
                    "429": {"$ref": "#/components/responses/RateLimited"},
                    "500": {"$ref": "#/components/responses/InternalError"},
                },
            }
        },
    )
