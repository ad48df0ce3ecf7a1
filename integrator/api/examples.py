"""Worked examples for /openapi.json and /docs: one request per group of payment modes, and an
answer for every operation.

Each is checked by tests/unit/api/test_api_docs_examples.py: requests against the server (never
refused for their shape), answers against their published schema, so an example cannot drift
from what the server does. Amounts sent are whole rupees (tax-head lines of answers may carry
paise); times carry DIGIT_TIMEZONE's offset.
"""

from __future__ import annotations

from typing import Any

BILL_ID = "7d7e9c2c-3c4b-4f1a-9a57-1f2f0d7c5b10"

PAYMENT_REQUESTS: dict[str, dict[str, Any]] = {
    "cash": {
        "summary": "Cash for one bill",
        "value": {
            "tenantId": "pb.amritsar",
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "mobileNumber": "9876543210",
            "bills": [{"billId": BILL_ID, "amount": 815}],
        },
    },
    "cheque": {
        "summary": "A cheque (instrumentNumber and instrumentDate required)",
        "value": {
            "tenantId": "pb.amritsar",
            "paymentMode": "CHEQUE",
            "paidBy": "Anita K. Sharma",
            "instrumentNumber": "000123",
            "instrumentDate": "2024-04-30",
            "collectedAt": "2024-05-01T15:30:00+05:30",
            "bills": [{"billId": BILL_ID, "amount": 815}],
        },
    },
    "card": {
        "summary": "A card payment (instrumentNumber and transactionNumber required)",
        "value": {
            "tenantId": "pb.amritsar",
            "paymentMode": "CARD",
            "paidBy": "Ramesh Kumar",
            "instrumentNumber": "XXXX-XXXX-XXXX-4242",
            "transactionNumber": "TXN-88213",
            "bills": [
                {"billId": BILL_ID, "amount": 815},
                {"billId": "c1f0a7e4-95f2-4d43-b7c3-2b1d3c9e8a01", "amount": 315},
            ],
        },
    },
}

BILLS_ANSWER: dict[str, Any] = {
    "bills": [
        {
            "billId": BILL_ID,
            "billNumber": "WS/107/2024-25/000451",
            "tenantId": "pb.amritsar",
            "businessService": "WS",
            "consumerCode": "WS/107/2019-20/000022",
            "payerName": "Ramesh Kumar",
            "mobileNumber": "******3210",
            "billDate": "2024-04-02T09:30:00+05:30",
            "expiryDate": "2024-05-31T23:59:59+05:30",
            "periodFrom": "2024-04-01T00:00:00+05:30",
            "periodTo": "2024-06-30T23:59:59+05:30",
            "totalAmount": 815,
            "lines": [
                {"taxHeadCode": "WS_CHARGE", "amount": 715},
                {"taxHeadCode": "WS_TIME_PENALTY", "amount": 100},
            ],
            "partPaymentAllowed": True,
            "advanceAllowed": True,
            "minimumPayable": 100,
            "maximumPayable": 10815,
            "amountExactness": "ADHOC",
            "paymentModesNotAllowed": ["DD"],
            "pendingPayment": None,
            "payable": True,
            "notPayableReason": None,
        }
    ],
    "unsearchedTenants": [],
    "duesReopening": [],
}

PAYMENT_ANSWER: dict[str, Any] = {
    "id": "pay_01HX7Q2M9V4W8Z3K6T5R1N0B2C",
    "idempotencyKey": "counter7-000123",
    "status": "REGISTERED",
    "provisional": False,
    "tenantId": "pb.amritsar",
    "paymentMode": "CASH",
    "totalAmount": 815,
    "collectedAt": None,
    "bills": [
        {
            "billId": BILL_ID,
            "billNumber": "WS/107/2024-25/000451",
            "consumerCode": "WS/107/2019-20/000022",
            "businessService": "WS",
            "amount": 815,
            "receiptNumber": "05/2024-25/000123",
            "receiptDate": "2024-05-01T15:30:02+05:30",
        }
    ],
    "receipts": [
        {
            "billId": BILL_ID,
            "consumerCode": "WS/107/2019-20/000022",
            "businessService": "WS",
            "amount": 815,
            "receiptNumber": "05/2024-25/000123",
            "receiptDate": "2024-05-01T15:30:02+05:30",
        }
    ],
    "createdAt": "2024-05-01T15:30:01+05:30",
    "registeredAt": "2024-05-01T15:30:02+05:30",
    "attempts": 1,
    "lastError": None,
    "reversal": None,
    "resolution": None,
}

PENDING_PAYMENT_ANSWER: dict[str, Any] = {
    **PAYMENT_ANSWER,
    "status": "PENDING",
    "bills": [{**PAYMENT_ANSWER["bills"][0], "receiptNumber": None, "receiptDate": None}],
    "receipts": [],
    "registeredAt": None,
    "lastError": "DIGIT could not be reached; the integrator keeps retrying.",
}

#: DIGIT refused the payment; a clerk registered it at the counter and an operator closed it with
#: that receipt (RECEIPTED_BY_HAND), verified in DIGIT.
RESOLVED_PAYMENT_ANSWER: dict[str, Any] = {
    **PAYMENT_ANSWER,
    "status": "RESOLVED",
    "bills": [
        {
            **PAYMENT_ANSWER["bills"][0],
            "receiptNumber": "05/2024-25/000187",
            "receiptDate": "2024-05-01T17:05:44+05:30",
        }
    ],
    "receipts": [
        {
            **PAYMENT_ANSWER["receipts"][0],
            "receiptNumber": "05/2024-25/000187",
            "receiptDate": "2024-05-01T17:05:44+05:30",
        }
    ],
    "registeredAt": None,
    "lastError": "DIGIT refused the payment (DIGIT codes: INVALID_BILL_ID).",
    "resolution": {
        "kind": "RECEIPTED_BY_HAND",
        "receiptNumber": "05/2024-25/000187",
        "resolvedAt": "2024-05-01T17:20:09+05:30",
    },
}

VALIDATION_ANSWER: dict[str, Any] = {
    "valid": True,
    "tenantId": "pb.amritsar",
    "totalAmount": 815,
    "bills": [
        {
            "billId": BILL_ID,
            "amount": 815,
            "billNumber": "WS/107/2024-25/000451",
            "consumerCode": "WS/107/2019-20/000022",
            "businessService": "WS",
            "totalAmount": 815,
            "minimumPayable": 100,
            "maximumPayable": 10815,
            "amountExactness": "ADHOC",
            "pendingPayment": None,
            "payable": True,
            "notPayableReason": None,
        }
    ],
}

RECEIPT_ANSWER: dict[str, Any] = {
    "receiptNumber": "05/2024-25/000123",
    "receiptDate": "2024-05-01T15:30:02+05:30",
    "tenantId": "pb.amritsar",
    "businessService": "WS",
    "consumerCode": "WS/107/2019-20/000022",
    "billId": BILL_ID,
    "billNumber": "WS/107/2024-25/000451",
    "payerName": "Ramesh Kumar",
    "paidBy": "Ramesh Kumar",
    "paymentMode": "CASH",
    "amountPaid": 815,
    "totalDue": 815,
    "lines": [
        {"taxHeadCode": "WS_CHARGE", "amount": 715},
        {"taxHeadCode": "WS_TIME_PENALTY", "amount": 100},
    ],
    "mobileNumber": "******3210",
    "status": "REGISTERED",
    "valid": True,
}

PROBLEM_ANSWER: dict[str, Any] = {
    "type": "/docs#problem-AMOUNT_BELOW_MINIMUM",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "The payment breaks a payment rule.",
    "code": "AMOUNT_BELOW_MINIMUM",
    "errors": [
        {
            "field": "bills/0/amount",
            "code": "AMOUNT_BELOW_MINIMUM",
            "message": f"bill {BILL_ID} needs at least 100",
        }
    ],
}

SETTLEMENT_ANSWER: dict[str, Any] = {
    "date": "2024-05-01",
    "timezone": "Asia/Kolkata",
    "rows": [
        {
            "paymentId": PAYMENT_ANSWER["id"],
            "deviceId": "dev_01HX7PZ3",
            "idempotencyKey": "counter7-000123",
            "tenantId": "pb.amritsar",
            "billId": BILL_ID,
            "billNumber": "WS/107/2024-25/000451",
            "consumerCode": "WS/107/2019-20/000022",
            "businessService": "WS",
            "amount": 815,
            "paymentMode": "CASH",
            "status": "REGISTERED",
            "receiptNumber": "05/2024-25/000123",
            "collectedAt": None,
            "acceptedAt": "2024-05-01T15:30:01+05:30",
            "registeredAt": "2024-05-01T15:30:02+05:30",
            "resolution": None,
        }
    ],
    "nextCursor": None,
}

CANCELLATION_REQUEST: dict[str, Any] = {"reason": "Collected against the wrong consumer"}

CANCELLATION_ANSWER: dict[str, Any] = {
    "id": "can_5f0c2a9e4b7d1c3a",
    "paymentId": PAYMENT_ANSWER["id"],
    "action": "CANCEL",
    "state": "REQUESTED",
    "reason": CANCELLATION_REQUEST["reason"],
    "requestedAt": "2024-05-01T15:41:12+05:30",
}

CANCELLED_PAYMENT_ANSWER: dict[str, Any] = {
    **PAYMENT_ANSWER,
    "status": "CANCELLED",
    "reversal": {
        "requestId": CANCELLATION_ANSWER["id"],
        "action": "CANCEL",
        "state": "DONE",
        "reason": CANCELLATION_REQUEST["reason"],
        "requestedAt": "2024-05-01T15:41:12+05:30",
        "decidedAt": "2024-05-01T16:02:40+05:30",
        "reversedAt": "2024-05-01T16:02:40+05:30",
    },
}

RECEIPT_DOCUMENT_ANSWER: dict[str, Any] = {
    "paymentId": "pay_3f9c2a7d81e04b6c9a1d2e3f",
    "status": "REGISTERED",
    "printNumber": 1,
    "duplicate": False,
    "tenantId": "pb.amritsar",
    "cityName": "Amritsar",
    "receiptNumbers": ["05/2024-25/000123"],
    "receiptDate": "2024-05-01T15:30:02+05:30",
    "paymentMode": "CHEQUE",
    "instrumentNumber": "000123",
    "instrumentDate": "2024-04-30",
    "transactionNumber": None,
    "collector": "counter-7",
    "mobileNumber": "******3210",
    "bills": [
        {
            "receiptNumber": "05/2024-25/000123",
            "businessService": "WS",
            "serviceName": "Water Charges",
            "consumerCode": "WS/107/2019-20/000022",
            "consumerName": "Ramesh Kumar",
            "billNumber": "WS/107/2024-25/000451",
            "periodFrom": "2024-04-01",
            "periodTo": "2024-06-30",
            "taxHeads": [
                {
                    "taxHeadCode": "WS_CHARGE",
                    "name": "WS_CHARGE",
                    "periodFrom": "2024-04-01",
                    "periodTo": "2024-06-30",
                    "amount": 123356,
                    "amountText": "1,23,356",
                },
                {
                    "taxHeadCode": "WS_TIME_PENALTY",
                    "name": "WS_TIME_PENALTY",
                    "periodFrom": "2024-04-01",
                    "periodTo": "2024-06-30",
                    "amount": 100,
                    "amountText": "100",
                },
            ],
            "billAmount": 123456,
            "billAmountText": "1,23,456",
            "amountPaid": 123456,
            "amountPaidText": "1,23,456",
            "balanceLeft": 0,
            "balanceLeftText": "0",
            "advance": 0,
        }
    ],
    "totalPaid": 123456,
    "totalPaidText": "1,23,456",
    "amountInWords": "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six Only",
    "balanceLeft": 0,
    "balanceLeftText": "0",
    "qrPayload": "05/2024-25/000123",
}

#: The start of a 58 mm slip (the JSON example above, as text/plain, width=32).
RECEIPT_SLIP_ANSWER = """            Amritsar
         (pb.amritsar)
        PAYMENT RECEIPT
--------------------------------
Receipt date    01-05-2024 15:30
Payment mode              Cheque
Cheque no.                000123
Cheque date           30-04-2024
Collected by           counter-7
--------------------------------
BILL
Receipt no.    05/2024-25/000123
...
"""

# --- offline collection and the collector's cash ---

DEVICE_ID = "3f2b8c1e-6d4a-4e7b-9c0f-5a1d2e3b4c5d"
TL_BILL_ID = "5b9e2d71-0c8f-4a36-8d1e-7f4c2a9b3e60"
SW_BILL_ID = "c1f0a7e4-95f2-4d43-b7c3-2b1d3c9e8a01"

#: Three payments taken while the device had no signal (POST /v1/payments/batch).
OFFLINE_PAYMENTS: list[dict[str, Any]] = [
    {
        "idempotencyKey": "counter7-000124",
        "tenantId": "pb.amritsar",
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "mobileNumber": "9876543210",
        "collectedAt": "2024-05-01T09:10:00+05:30",
        "bills": [{"billId": BILL_ID, "amount": 815}],
    },
    {
        "idempotencyKey": "counter7-000125",
        "tenantId": "pb.amritsar",
        "paymentMode": "CASH",
        "paidBy": "Anita K. Sharma",
        "collectedAt": "2024-05-01T09:40:00+05:30",
        "bills": [{"billId": TL_BILL_ID, "amount": 1500}],
    },
    {
        "idempotencyKey": "counter7-000126",
        "tenantId": "pb.amritsar",
        "paymentMode": "CHEQUE",
        "paidBy": "Anita K. Sharma",
        "instrumentNumber": "000124",
        "instrumentDate": "2024-04-30",
        "collectedAt": "2024-05-01T10:05:00+05:30",
        "bills": [{"billId": SW_BILL_ID, "amount": 315}],
    },
]

BATCH_REQUESTS: dict[str, dict[str, Any]] = {
    "afterAnOutage": {
        "summary": "Two cash payments and a cheque taken offline",
        "value": {"payments": OFFLINE_PAYMENTS},
    },
}

_PAID_ELSEWHERE = f"DIGIT already holds a payment for bill {TL_BILL_ID}"

#: What the three payments above can be answered: the first accepted; the second quarantined (the
#: trade licence was paid at the counter meanwhile); the third refused until DIGIT answers again.
BATCH_ANSWER: dict[str, Any] = {
    "payments": [
        {
            "index": 0,
            "idempotencyKey": "counter7-000124",
            "outcome": "accepted",
            "replayed": False,
            "payment": {
                **PENDING_PAYMENT_ANSWER,
                "id": "pay_3c9e1f0a7b2d4e6f8a1b2c3d",
                "idempotencyKey": "counter7-000124",
                "collectedAt": "2024-05-01T09:10:00+05:30",
                "createdAt": "2024-05-01T15:30:01+05:30",
                "attempts": 0,
                "lastError": None,
            },
            "problem": None,
            "conflict": None,
        },
        {
            "index": 1,
            "idempotencyKey": "counter7-000125",
            "outcome": "quarantined",
            "replayed": False,
            "payment": {
                **PENDING_PAYMENT_ANSWER,
                "id": "pay_8d2f4a6c1e3b5d7f9a0c2e4b",
                "idempotencyKey": "counter7-000125",
                "status": "NEEDS_ATTENTION",
                "totalAmount": 1500,
                "collectedAt": "2024-05-01T09:40:00+05:30",
                "bills": [
                    {
                        "billId": TL_BILL_ID,
                        "billNumber": "TL/107/2024-25/000088",
                        "consumerCode": "PB-TL-2024-07-04-002271",
                        "businessService": "TL",
                        "amount": 1500,
                        "receiptNumber": None,
                        "receiptDate": None,
                    }
                ],
                "createdAt": "2024-05-01T15:30:01+05:30",
                "attempts": 0,
                "lastError": f"BILL_ALREADY_PAID: {_PAID_ELSEWHERE}",
            },
            "problem": None,
            "conflict": {
                "code": "BILL_ALREADY_PAID",
                "message": _PAID_ELSEWHERE,
                "violations": [
                    {
                        "code": "BILL_ALREADY_PAID",
                        "field": "bills/0/billId",
                        "message": _PAID_ELSEWHERE,
                    }
                ],
                "bills": [
                    {"billId": TL_BILL_ID, "amount": 1500, "servedTotal": 1500, "currentTotal": 0}
                ],
            },
        },
        {
            "index": 2,
            "idempotencyKey": "counter7-000126",
            "outcome": "refused",
            "replayed": False,
            "payment": None,
            "problem": {
                "type": "/docs#problem-DIGIT_UNAVAILABLE",
                "code": "DIGIT_UNAVAILABLE",
                "field": None,
                "detail": "DIGIT cannot be reached to check this payment: upload it again later",
                "retryAfter": 30,
            },
            "conflict": None,
        },
    ]
}

DEVICE_LIMITS_ANSWER: dict[str, Any] = {
    "deviceId": DEVICE_ID,
    "offlineMaxAgeSeconds": 259200,
    "offlineCashLimit": 20000,
    "cashInHandCap": 50000,
    "batchMax": 50,
}

DEVICE_CASH_ANSWER: dict[str, Any] = {
    "deviceId": DEVICE_ID,
    "cashInHandCap": 50000,
    "byMode": [
        {"paymentMode": "CASH", "amount": 12400},
        {"paymentMode": "CHEQUE", "amount": 815},
    ],
    "byCity": [
        {"tenantId": "pb.amritsar", "paymentMode": "CASH", "amount": 11900},
        {"tenantId": "pb.amritsar", "paymentMode": "CHEQUE", "amount": 815},
        {"tenantId": "pb.jalandhar", "paymentMode": "CASH", "amount": 500},
    ],
}
