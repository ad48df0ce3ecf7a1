"""A tiny DIGIT client for the sandbox tests: login, fetch, pay, search, admin calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from integrator import jsonutil

AMRITSAR = "pb.amritsar"
WS_RAMESH = "WS/107/2019-20/000022"


class Digit:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def login(
        self,
        username: str = "INTEGRATOR_SYSTEM",
        password: str = "sandbox-password",
        tenant: str = AMRITSAR,
        user_type: str = "Employee",
    ) -> requests.Response:
        response = requests.post(
            f"{self.base}/user/oauth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "tenantId": tenant,
                "userType": user_type,
                "scope": "read",
            },
            auth=("egov-user-client", ""),
            timeout=5,
        )
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 5,
        **params: Any,
    ) -> requests.Response:
        payload = dict(body or {})
        payload.setdefault("RequestInfo", {"apiId": "Rainmaker", "authToken": token or self.token})
        return requests.post(
            f"{self.base}{path}",
            params=params,
            data=jsonutil.dumps(payload),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )

    def fetch(
        self, code: str = WS_RAMESH, service: str = "WS", tenant: str = AMRITSAR, **params: Any
    ) -> requests.Response:
        if code:
            params["consumerCode"] = code
        return self.post(
            "/billing-service/bill/v2/_fetchbill",
            tenantId=tenant,
            businessService=service,
            **params,
        )

    def bill(
        self, code: str = WS_RAMESH, service: str = "WS", tenant: str = AMRITSAR
    ) -> dict[str, Any]:
        response = self.fetch(code, service, tenant)
        assert response.status_code == 201, response.text
        bills = body_of(response)["Bill"]
        assert len(bills) == 1
        return bills[0]  # type: ignore[no-any-return]

    def pay(self, bills: list[tuple[dict[str, Any], Any]], **overrides: Any) -> requests.Response:
        payment = payment_body(bills, **overrides)
        return self.post(
            "/collection-services/payments/_create",
            {"Payment": payment},
            timeout=overrides.pop("_timeout", 5),
        )

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(
            f"{self.base}/_sandbox/{path}",
            data=jsonutil.dumps(body or {}),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        assert response.ok, response.text
        return body_of(response)

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.base}/_sandbox/{path}", timeout=5)
        assert response.ok, response.text
        return body_of(response)


def body_of(response: requests.Response) -> Any:
    return jsonutil.loads(response.text)


def payment_body(bills: list[tuple[dict[str, Any], Any]], **overrides: Any) -> dict[str, Any]:
    total = sum((Decimal(str(amount)) for _, amount in bills), Decimal(0))
    payment: dict[str, Any] = {
        "tenantId": bills[0][0]["tenantId"] if bills else AMRITSAR,
        "paymentMode": "CASH",
        "totalDue": total,
        "totalAmountPaid": total,
        "paidBy": "Ramesh Kumar",
        "payerName": "Ramesh Kumar",
        "mobileNumber": "9876543210",
        "additionalDetails": {"posTxnId": "pos-1"},
        "paymentDetails": [
            {
                "businessService": bill["businessService"],
                "billId": bill["id"],
                "totalDue": bill["totalAmount"],
                "totalAmountPaid": Decimal(str(amount)),
            }
            for bill, amount in bills
        ],
    }
    overrides.pop("_timeout", None)
    for key, value in overrides.items():
        if value is None:
            payment.pop(key, None)
        else:
            payment[key] = value
    return payment


def codes(response: requests.Response) -> list[str]:
    return [e["code"] for e in body_of(response)["Errors"]]


@pytest.fixture
def digit(sandbox: str) -> Digit:
    client = Digit(sandbox)
    assert client.login().status_code == 200
    return client
