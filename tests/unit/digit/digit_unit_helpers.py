"""Factories of DIGIT answers for the client unit tests (digest 2.2, 4.3, 5.3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from integrator import jsonutil

BASE = "https://digit.test"
TOKEN_URL = f"{BASE}/user/oauth/token"
FETCH_URL = f"{BASE}/billing-service/bill/v2/_fetchbill"
SEARCH_URL = f"{BASE}/billing-service/bill/v2/_search"
CREATE_URL = f"{BASE}/collection-services/payments/_create"
MDMS_URL = f"{BASE}/egov-mdms-service/v1/_search"

EXPIRY_MS = 1_767_225_599_000  # 2025-12-31T23:59:59Z
BILL_DATE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def token_answer(
    access: str = "tok-1", refresh: str = "ref-1", expires_in: int = 604799
) -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": refresh,
        "expires_in": expires_in,
        "scope": "read",
        "ResponseInfo": {
            "api_id": "",
            "ver": "",
            "ts": "",
            "res_msg_id": "",
            "msg_id": "",
            "status": "Access Token generated successfully",
        },
        "UserRequest": {
            "id": 1,
            "uuid": "u-1",
            "userName": "INTEGRATOR_SYSTEM",
            "type": "EMPLOYEE",
            "tenantId": "pb.amritsar",
            "roles": [],
        },
    }


def error_res(*codes: str) -> dict[str, Any]:
    return {
        "ResponseInfo": None,
        "Errors": [
            {"code": c, "message": f"message of {c}", "description": None, "params": None}
            for c in codes
        ],
    }


def make_bill(
    *,
    bill_id: str = "bill-1",
    tenant: str = "pb.amritsar",
    service: str = "WS",
    consumer: str = "WS/107/2019-20/000022",
    total: str = "1200.50",
    mobile: str = "9876543210",
    **overrides: Any,
) -> dict[str, Any]:
    amount = Decimal(total)
    bill = {
        "id": bill_id,
        "userId": "u-9",
        "mobileNumber": mobile,
        "payerName": "Ramesh Kumar",
        "payerAddress": None,
        "payerEmail": None,
        "status": "ACTIVE",
        "totalAmount": amount,
        "businessService": service,
        "billNumber": f"BILLNO-{bill_id}",
        "billDate": BILL_DATE_MS,
        "consumerCode": consumer,
        "additionalDetails": None,
        "tenantId": tenant,
        "fileStoreId": None,
        "billDetails": [
            {
                "id": f"{bill_id}-d1",
                "tenantId": tenant,
                "demandId": "dem-1",
                "billId": bill_id,
                "expiryDate": EXPIRY_MS,
                "amount": amount,
                "amountPaid": None,
                "fromPeriod": 1_711_929_600_000,
                "toPeriod": 1_743_465_599_000,
                "additionalDetails": None,
                "billAccountDetails": [
                    {
                        "id": "bad-1",
                        "tenantId": tenant,
                        "billDetailId": f"{bill_id}-d1",
                        "demandDetailId": "dd-1",
                        "order": 0,
                        "amount": amount,
                        "adjustedAmount": 0,
                        "taxHeadCode": f"{service}_CHARGE",
                        "additionalDetails": None,
                    },
                ],
            }
        ],
        "auditDetails": {
            "createdBy": "u",
            "lastModifiedBy": "u",
            "createdTime": BILL_DATE_MS,
            "lastModifiedTime": BILL_DATE_MS,
        },
    }
    bill.update(overrides)
    return bill


def bill_response(*bills: dict[str, Any], fresh: bool = False) -> dict[str, Any]:
    info = (
        None
        if fresh
        else {"apiId": "Rainmaker", "ver": ".01", "ts": 0, "msgId": "m", "status": "201 CREATED"}
    )
    return {"ResposneInfo": info, "Bill": list(bills)}


def payment_response(
    *, bill_id: str = "bill-1", paid: str = "1200", due: str = "1200.50"
) -> dict[str, Any]:
    paid_amount, due_amount = Decimal(paid), Decimal(due)
    return {
        "ResponseInfo": {
            "apiId": "Rainmaker",
            "ver": ".01",
            "ts": 0,
            "resMsgId": "uief87324",
            "msgId": "m",
            "status": "200 OK",
        },
        "Payments": [
            {
                "id": "pay-1",
                "tenantId": "pb.amritsar",
                "totalDue": due_amount,
                "totalAmountPaid": paid_amount,
                "transactionNumber": "amritsar2101641377",
                "transactionDate": BILL_DATE_MS,
                "paymentMode": "CASH",
                "instrumentDate": BILL_DATE_MS,
                "instrumentNumber": None,
                "instrumentStatus": "APPROVED",
                "ifscCode": None,
                "additionalDetails": {"posTxn": "p1"},
                "paidBy": "Ramesh Kumar",
                "mobileNumber": "9876543210",
                "payerName": "Ramesh Kumar",
                "payerAddress": None,
                "payerEmail": None,
                "payerId": "u-9",
                "paymentStatus": "NEW",
                "fileStoreId": None,
                "paymentDetails": [
                    {
                        "id": "pd-1",
                        "tenantId": "pb.amritsar",
                        "totalDue": due_amount,
                        "totalAmountPaid": paid_amount,
                        "receiptNumber": "01/2025-26/001234",
                        "manualReceiptNumber": None,
                        "manualReceiptDate": None,
                        "receiptDate": BILL_DATE_MS,
                        "receiptType": "BILLBASED",
                        "businessService": "WS",
                        "billId": bill_id,
                        "additionalDetails": None,
                        "bill": make_bill(bill_id=bill_id, total=due),
                        "auditDetails": None,
                    }
                ],
                "auditDetails": None,
            }
        ],
    }


def walk_values(value: Any) -> Iterator[Any]:
    """Every leaf value of a model (dataclasses, tuples, mappings), for type assertions."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk_values(getattr(value, f.name))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from walk_values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_values(item)
    else:
        yield value


def assert_no_floats(value: Any) -> None:
    leaves = list(walk_values(value))
    assert not [v for v in leaves if isinstance(v, float)], "a float leaked into a model"
    for v in leaves:
        if isinstance(v, datetime):
            assert v.tzinfo is not None, "a naive datetime leaked into a model"


def add_json(
    rsps: Any, url: str, payload: Any, *, status: int = 200, method: str = "POST", **kwargs: Any
) -> Any:
    """Register an answer whose numbers are written exactly as DIGIT writes them (no floats)."""
    return rsps.add(
        method,
        url,
        body=jsonutil.dumps(payload),
        status=status,
        content_type="application/json",
        **kwargs,
    )
