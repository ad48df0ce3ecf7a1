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
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import Schema, fields, validate

from integrator.api import examples
from integrator.api.access import current_device
from integrator.api.context import wire as current_wire
from integrator.api.errors import ApiError, FieldError
from integrator.api.guards import reads_query
from integrator.api.openapi import JSON, add_paths
from integrator.api.pos import load_args
from integrator.api.schemas.fields import BoundedDay, StrictSchema, coded
from integrator.api.schemas.responses import Amount, Timestamp
from integrator.api.wire import Wire
from integrator.payments import settlement
from integrator.payments.days import FIRST_DAY, LAST_DAY
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
    from integrator.api import device_policy

    if EXTENSION_KEY in app.extensions:  # already wired (idempotent)
        return
    app.extensions[EXTENSION_KEY] = ReportsConfig(payments=payments_store, timezone=timezone)
    app.register_blueprint(reports_bp, url_prefix="/v1")
    device_policy(app, reports_bp)
    add_paths(app, document_paths)


def _config() -> ReportsConfig:
    config = current_app.extensions[EXTENSION_KEY]
    assert isinstance(config, ReportsConfig)
    return config


# --- schemas ---------------------------------------------------------------------------------


CURSOR_MESSAGE = "The cursor is not one this report returned."
_LIMIT_MESSAGE = coded("LIMIT_OUT_OF_RANGE", f"From 1 to {settlement.MAX_LIMIT}.")


class SettlementQuerySchema(StrictSchema):
    """GET /v1/reports/settlement?date=YYYY-MM-DD[&format=csv|json][&cursor=][&limit=]"""

    date = BoundedDay(
        required=True,
        metadata={
            "description": "The day, in the settlement zone: YYYY-MM-DD from "
            f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()} (INVALID_DATE)."
        },
    )
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(["csv", "json"], error=coded("INVALID_FORMAT", "csv or json.")),
        metadata={"description": "Overrides the Accept header (default JSON)."},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=120, error=coded("INVALID_CURSOR", CURSOR_MESSAGE)),
        metadata={"description": "`nextCursor` of the previous page (JSON only)."},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        error_messages={"invalid": _LIMIT_MESSAGE, "too_large": _LIMIT_MESSAGE},
        validate=validate.Range(min=1, max=settlement.MAX_LIMIT, error=_LIMIT_MESSAGE),
        metadata={"description": "Rows per page (JSON only)."},
    )


class SettlementRowSchema(Schema):
    paymentId = fields.String()
    deviceId = fields.String()
    idempotencyKey = fields.String()
    tenantId = fields.String()
    billId = fields.String()
    billNumber = fields.String()
    consumerCode = fields.String()
    businessService = fields.String()
    amount = Amount()
    paymentMode = fields.String()
    status = fields.String()
    receiptNumber = fields.String(allow_none=True)
    collectedAt = Timestamp(allow_none=True)
    acceptedAt = Timestamp()
    registeredAt = Timestamp(allow_none=True)
    resolution = fields.String(allow_none=True)
    entry = fields.String(
        metadata={
            "description": "PAYMENT, or REVERSAL: the money went back on this day (DIGIT"
            " cancelled/dishonoured the payment, or an operator resolved it as REFUNDED; amount"
            " negative)."
        }
    )
    reversedAt = Timestamp(allow_none=True)
    offline = fields.Boolean(
        metadata={"description": "Collected offline and uploaded later (POST /v1/payments/batch)."}
    )
    uploadedAt = Timestamp(
        allow_none=True, metadata={"description": "When an offline payment reached us."}
    )


class SettlementPageSchema(Schema):
    date = fields.Date()
    timezone = fields.String()
    rows = fields.List(fields.Nested(SettlementRowSchema))
    nextCursor = fields.String(allow_none=True)


def settlement_row_view(row: SettlementRow, wire: Wire) -> dict[str, Any]:
    """One row of the JSON report as SettlementRowSchema describes it."""
    return {
        "paymentId": row.payment_id,
        "deviceId": row.device_id,
        "idempotencyKey": row.idempotency_key,
        "tenantId": row.tenant_id,
        "billId": row.bill_id,
        "billNumber": row.bill_number,
        "consumerCode": row.consumer_code,
        "businessService": row.business_service,
        "amount": wire.amount(row.amount),
        "paymentMode": row.payment_mode,
        "status": row.status,
        "receiptNumber": row.receipt_number,
        "collectedAt": wire.timestamp(row.collected_at),
        "acceptedAt": wire.timestamp(row.accepted_at),
        "registeredAt": wire.timestamp(row.registered_at),
        "resolution": row.resolution,
        "entry": row.entry,
        "reversedAt": wire.timestamp(row.reversed_at),
    }


# --- the view --------------------------------------------------------------------------------


@reports_bp.get("/reports/settlement")
@reads_query
def settlement_report() -> Any:
    query = load_args(SettlementQuerySchema())
    device = current_device()
    config = _config()
    day: date = query["date"]
    if _wants_csv(query["format"]):
        from integrator.services import current_services

        rows = settlement.with_offline_marks(
            settlement.iter_settlement_rows(config.payments, day, config.timezone, device.id),
            current_services().offline_store,
        )
        response = Response(_csv_lines(rows, current_wire()), status=200, mimetype=CSV)
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
        raise ApiError(
            CURSOR_MESSAGE,
            status=422,
            code="INVALID_CURSOR",
            errors=[FieldError("cursor", "INVALID_CURSOR", CURSOR_MESSAGE)],
        ) from None
    written = current_wire()
    from integrator.services import current_services

    # offline-collected payments say so, with the time they reached us (collectedAt is earlier)
    marks = current_services().offline_store.marks(sorted({r.payment_id for r in page.rows}))
    return {
        "date": written.day(day),
        "timezone": config.timezone.key,
        "rows": [
            {
                **settlement_row_view(row, written),
                "offline": row.payment_id in marks,
                "uploadedAt": written.timestamp(marks[row.payment_id].uploaded_at)
                if row.payment_id in marks
                else None,
            }
            for row in page.rows
        ],
        "nextCursor": page.next_cursor,
    }


def _wants_csv(explicit: str | None) -> bool:
    if explicit is not None:
        return explicit == "csv"
    best = request.accept_mimetypes.best_match([JSON, CSV], default=JSON)
    return best == CSV


def _csv_lines(rows: Iterator[SettlementRow], wire: Wire) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(settlement.CSV_COLUMNS)
    yield _drain(buffer)
    for row in rows:
        writer.writerow(settlement.csv_record(_on_the_wire(row, wire)))
        yield _drain(buffer)


def _on_the_wire(row: SettlementRow, wire: Wire) -> SettlementRow:
    """The row with its times in the wire's zone and its amount on the wire's scale."""
    amount = wire.amount(row.amount)
    accepted = wire.zoned(row.accepted_at)
    assert amount is not None and accepted is not None
    return replace(
        row,
        amount=amount,
        collected_at=wire.zoned(row.collected_at),
        accepted_at=accepted,
        registered_at=wire.zoned(row.registered_at),
        reversed_at=wire.zoned(row.reversed_at),
        uploaded_at=wire.zoned(row.uploaded_at),
    )


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


# --- OpenAPI ---------------------------------------------------------------------------------

_CSV_EXAMPLE = ",".join(settlement.CSV_COLUMNS) + "\r\n"  # the header line; then a row per bill


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
                    "`Accept: text/csv`) is the whole day. Amounts are plain JSON numbers and "
                    "times carry DIGIT_TIMEZONE's offset, as in every answer."
                ),
                "parameters": [{"in": "query", "schema": SettlementQuerySchema}, "RequestId"],
                "responses": {
                    "200": {
                        "description": "The report",
                        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
                        "content": {
                            JSON: {
                                "schema": SettlementPageSchema,
                                "example": examples.SETTLEMENT_ANSWER,
                            },
                            CSV: {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
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
