"""The requests the DIGIT edge builds for the corrected digest (2026-11-30), held to it without
any DIGIT: billing only with city tenants and `_fetchbill` by mobile (corrections 1, 2), MDMS by
the payment's city on the configured path (7, 8), payment searches paged at 100 (11), and the
`_workflow` request and answer (§13) against the collection yml as the digest corrects it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
import responses as responses_lib

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.digit.http import build_session
from integrator.digit.models import WorkflowItem
from integrator.settings import Settings
from tests.contract.digit_schemas import COLLECTION_URI, errors, request_info_validator, validator

BASE = "https://digit.test"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def digit(redis: redis_lib.Redis, redis_url: str) -> Iterator[tuple[DigitClient, Any]]:
    settings = Settings.from_env(
        {
            "DIGIT_BASE_URL": BASE,
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "u",
            "DIGIT_PASSWORD": "p",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "MDMS_SEARCH_PATH": "/mdms-v2/v1/_search",
            "COLLECTABLE_SERVICES": "WS,PT",
            "REDIS_URL": redis_url,
        }
    )
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            "POST",
            f"{BASE}/user/oauth/token",
            json={"access_token": "t", "expires_in": 600, "refresh_token": "r"},
        )
        yield DigitClient(settings=settings, redis=redis, session=build_session(settings)), mock


def _query(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def _body(call: Any) -> Any:
    return json.loads(call.request.body)


def _calls(mock: Any, path: str) -> list[Any]:
    return [c for c in mock.calls if urlsplit(c.request.url).path == path]


def test_a_state_mobile_lookup_sends_only_city_tenants_to_billing(digit):
    client, mock = digit
    mock.add(
        "POST",
        f"{BASE}/mdms-v2/v1/_search",
        json={
            "ResponseInfo": None,
            "MdmsRes": {"tenant": {"tenants": [{"code": "pb"}, {"code": "pb.amritsar"}]}},
        },
    )
    for path in ("_search", "_fetchbill"):
        mock.add(
            "POST",
            f"{BASE}/billing-service/bill/v2/{path}",
            json={"ResposneInfo": None, "Bill": []},
            status=201,
        )

    client.mobile_lookup(tenant_id="pb", mobile_number="9876543210")

    search = _calls(mock, "/billing-service/bill/v2/_search")
    fetch = _calls(mock, "/billing-service/bill/v2/_fetchbill")
    assert [_query(c) for c in search] == [
        {"tenantId": "pb.amritsar", "mobileNumber": "9876543210"}
    ]
    # corrections 2: tenantId and businessService are @NotNull, a 10-digit mobile, no consumer
    assert sorted(_query(c)["businessService"] for c in fetch) == ["PT", "WS"]
    assert all(
        _query(c) == {**_query(c), "tenantId": "pb.amritsar", "mobileNumber": "9876543210"}
        and "consumerCode" not in _query(c)
        for c in fetch
    )
    for call in search + fetch:
        assert errors(request_info_validator(), _body(call)["RequestInfo"]) == []


def test_mdms_is_asked_with_the_payments_city_in_the_v1_request_shape(digit):
    client, mock = digit
    mock.add(
        "POST",
        f"{BASE}/mdms-v2/v1/_search",
        json={
            "ResponseInfo": None,
            "MdmsRes": {
                "BillingService": {
                    "BusinessService": [
                        {"code": "PT", "partPaymentAllowed": True, "isAdvanceAllowed": True}
                    ]
                }
            },
        },
    )

    client.payment_rules("pb.amritsar")

    [call] = _calls(mock, "/mdms-v2/v1/_search")
    assert _body(call)["MdmsCriteria"] == {
        "tenantId": "pb.amritsar",
        "moduleDetails": [
            {"moduleName": "BillingService", "masterDetails": [{"name": "BusinessService"}]}
        ],
    }


def test_payment_searches_ask_for_pages_of_100(digit):
    client, mock = digit
    mock.add(
        "POST",
        f"{BASE}/collection-services/payments/WS/_search",
        json={"ResponseInfo": None, "Payments": []},
    )
    client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=["b"])
    [call] = _calls(mock, "/collection-services/payments/WS/_search")
    assert (_query(call)["limit"], _query(call)["offset"]) == ("100", "0")


def test_the_workflow_request_and_answer_hold_to_section_13(digit):
    client, mock = digit
    cancelled = {
        "id": "pay-1",
        "tenantId": "pb.amritsar",
        "totalDue": 500,
        "totalAmountPaid": 500,
        "paymentMode": "CASH",
        "paidBy": "Ramesh",
        "mobileNumber": "9876543210",
        "paymentStatus": "CANCELLED",
        "instrumentStatus": "CANCELLED",
        "paymentDetails": [
            {
                "id": "pd-1",
                "tenantId": "pb.amritsar",
                "totalDue": 500,
                "totalAmountPaid": 500,
                "receiptNumber": "PT/107/2026-27/000001",
                "businessService": "PT",
                "billId": "bill-1",
                "bill": {
                    "id": "bill-1",
                    "status": "CANCELLED",
                    "isCancelled": True,
                    "reasonForCancellation": "Wrong amount",
                    "consumerCode": "PT-1",
                    "businessService": "PT",
                    "tenantId": "pb.amritsar",
                    "totalAmount": 500,
                },
            }
        ],
    }
    answer = {
        "ResponseInfo": {"apiId": "Rainmaker", "ver": ".01", "ts": 0, "status": "200 OK"},
        "Payments": [cancelled],
    }
    mock.add("POST", f"{BASE}/collection-services/payments/PT/_workflow", json=answer)

    [payment] = client.workflow(
        tenant_id="pb.amritsar",
        module="PT",
        action="cancel",
        items=[
            WorkflowItem(payment_id="pay-1", reason="Wrong amount", additional_details={"a": 1})
        ],
    )

    [call] = _calls(mock, "/collection-services/payments/PT/_workflow")
    sent = json.loads(jsonutil.dumps(_body(call)))
    assert errors(validator(COLLECTION_URI, "PaymentWorkflowRequest"), sent) == []
    assert sent["PaymentWorkflows"][0]["action"] == "CANCEL"  # upper case only (§13)
    assert errors(validator(COLLECTION_URI, "PaymentResponse"), answer) == []
    assert not payment.is_live and payment.details[0].bill_cancelled


def test_the_corrected_workflow_schema_still_refuses_what_digit_refuses():
    v = validator(COLLECTION_URI, "PaymentWorkflowRequest")
    assert errors(v, {"RequestInfo": {}, "PaymentWorkflows": []})  # @Size(min=1)
    assert errors(v, {"RequestInfo": {}, "PaymentWorkflows": [{"paymentId": "p"}]})
    assert errors(
        v,
        {
            "RequestInfo": {},
            "PaymentWorkflows": [{"paymentId": "p", "action": "VOID", "tenantId": "pb.a"}],
        },
    )
