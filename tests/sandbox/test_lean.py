"""The lean (benchmark) sandbox still answers from the full app and counts real logins."""

from __future__ import annotations

from integrator import jsonutil
from integrator.sandbox.lean import LeanSandbox
from tests.sandbox.conftest import AMRITSAR, WS_RAMESH

JSON = {"content-type": "application/json"}


def login(lean: LeanSandbox, password: str = "sandbox-password") -> tuple[int, bytes]:
    form = (
        "grant_type=password&username=INTEGRATOR_SYSTEM&password="
        f"{password}&tenantId={AMRITSAR}&userType=EMPLOYEE&scope=read"
    )
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "authorization": "Basic ZWdvdi11c2VyLWNsaWVudDo=",
    }
    return lean.digit("POST", "/user/oauth/token", headers, form.encode())


def test_lean_logins_are_real_and_counted_and_fetches_are_replayed() -> None:
    lean = LeanSandbox()
    status, body = login(lean)
    assert status == 200 and jsonutil.loads(body)["access_token"]
    assert login(lean, "wrong")[0] == 400
    assert lean.counters["login"] == 2
    request = jsonutil.dumps({"RequestInfo": {"authToken": "anything"}}).encode()
    target = (
        f"/billing-service/bill/v2/_fetchbill?tenantId={AMRITSAR}"
        f"&businessService=WS&consumerCode={WS_RAMESH}"
    )
    first = lean.digit("POST", target, JSON, request)
    again = lean.digit("POST", target, JSON, request)
    assert first[0] == 201 and first == again
    [bill] = jsonutil.loads(first[1])["Bill"]
    payment = {
        "RequestInfo": {},
        "Payment": {
            "tenantId": AMRITSAR,
            "paymentDetails": [{"billId": bill["id"], "totalAmountPaid": 815}],
        },
    }
    created = lean.digit(
        "POST", "/collection-services/payments/_create", JSON, jsonutil.dumps(payment).encode()
    )
    assert created[0] == 200
    assert lean.counters == {"login": 2, "fetchbill": 2, "payment_create": 1}
