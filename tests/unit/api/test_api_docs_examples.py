"""Every operation is described and has examples; request examples pass the server's checks and
answer examples match their published schemas. The document is the one the app serves: that of
`create_app`, with every module's operations (the offline ones, receipts, reports...)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator

from integrator import jsonutil
from integrator.api import examples
from integrator.app import create_app
from integrator.payments.cash import DeviceLimits, Holding
from integrator.payments.models import PaymentStatus
from integrator.payments.offline import ItemResult, OfflineItem, Outcome
from integrator.services import services_of
from tests.support.offline import offline_settings
from tests.unit.api.conftest import (
    Edge,
    FakeCash,
    FakeUploads,
    accept_every_item,
    make_payment,
    with_offline,
)


@pytest.fixture
def app(redis_url: str, database_url: str) -> Iterator[Flask]:
    """The web app as gunicorn runs it (its DIGIT is never called)."""
    app = create_app(offline_settings(redis_url, password="docs-test", database_url=database_url))
    yield app
    services_of(app).redis.close()


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    """GET /openapi.json of that app, parsed as the PoS API's clients parse it."""
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    parsed: dict[str, Any] = json.loads(response.data)  # stdlib numbers: what a client sees
    return parsed


def validator(document: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    """`schema` (often a bare $ref) validated with the document's components as its root."""
    return OAS30Validator({"allOf": [schema], "components": document["components"]})


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if path.startswith("/v1/")
    ]


def as_a_client_reads(body: Any) -> Any:
    return json.loads(jsonutil.dumps(body))


def test_the_document_has_every_v1_operation_of_the_app(
    app: Flask, document: dict[str, Any]
) -> None:
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert {(path, method) for path, method, _op in operations(document)} == routes
    assert {("/v1/payments/batch", "post"), ("/v1/devices/me/cash", "get")} <= routes


def test_every_operation_has_a_summary_a_description_and_a_success_example(
    document: dict[str, Any],
) -> None:
    for path, method, op in operations(document):
        assert op.get("summary") and op.get("description"), (path, method)
        successes = [r for status, r in op["responses"].items() if status.startswith("2")]
        assert successes and all(
            "example" in media for r in successes for media in r["content"].values()
        ), (path, method)
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert "example" in media or "examples" in media, (path, method)


def test_answer_examples_match_their_published_schemas(document: dict[str, Any]) -> None:
    checked = set()
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media:
                    validator(document, media["schema"]).validate(media["example"])
                    checked.add((path, method))
    problem = document["components"]["schemas"]["Problem"]
    validator(document, problem).validate(examples.PROBLEM_ANSWER)
    assert checked == {(path, method) for path, method, _op in operations(document)}


@pytest.mark.parametrize(
    ("name", "example", "nulled"),
    [
        ("BatchAnswer", examples.BATCH_ANSWER, ("payments", 0, "problem")),
        ("DeviceLimits", examples.DEVICE_LIMITS_ANSWER, ("cashInHandCap",)),
    ],
)
def test_an_answer_schema_refuses_what_the_server_never_answers(
    document: dict[str, Any], name: str, example: dict[str, Any], nulled: tuple[Any, ...]
) -> None:
    """The schemas check what they publish: an object where the answer has null (a nullable
    object, or amount) fails; a nullable object accepts only null or itself."""
    schema = {"$ref": f"#/components/schemas/{name}"}
    wrong = as_a_client_reads(example)
    holder = wrong
    for step in nulled[:-1]:
        holder = holder[step]
    holder[nulled[-1]] = {"detail": "no code"}

    assert not validator(document, schema).is_valid(wrong)


@pytest.mark.parametrize("name", list(examples.PAYMENT_REQUESTS))
def test_request_examples_match_the_schema_and_the_server_accepts_them(
    edge: Edge, document: dict[str, Any], name: str
) -> None:
    body = examples.PAYMENT_REQUESTS[name]["value"]
    media = document["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]
    assert media["examples"][name]["value"] == body
    validator(document, media["schema"]).validate(body)

    response = edge.post_payment(raw=jsonutil.dumps(body), path="/v1/payments/validate")

    assert response.status_code == 200, response.get_data(as_text=True)


# --- the offline operations ------------------------------------------------------------------


def batch_media(document: dict[str, Any]) -> dict[str, Any]:
    post = document["paths"]["/v1/payments/batch"]["post"]
    media: dict[str, Any] = post["requestBody"]["content"]["application/json"]
    return media


@pytest.mark.parametrize("name", list(examples.BATCH_REQUESTS))
def test_batch_examples_match_the_schema_and_the_server_takes_every_payment(
    edge: Edge, document: dict[str, Any], name: str
) -> None:
    body = examples.BATCH_REQUESTS[name]["value"]
    media = batch_media(document)
    assert media["examples"][name]["value"] == body
    validator(document, media["schema"]).validate(body)
    uploads = with_offline(edge).offline_uploads

    response = edge.client.post(
        "/v1/payments/batch",
        data=jsonutil.dumps(body),
        headers=edge.headers(),
        content_type="application/json",
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    answered = response.get_json()["payments"]
    assert [a["outcome"] for a in answered] == ["accepted"] * len(body["payments"])  # none refused
    assert [item.idempotency_key for item in uploads.items] == [
        p["idempotencyKey"] for p in body["payments"]
    ]


def offline_payment(**changes: Any) -> dict[str, Any]:
    item = {**examples.OFFLINE_PAYMENTS[0], **changes}
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    ("item", "field", "code"),
    [
        (offline_payment(idempotencyKey=None), "idempotencyKey", "IDEMPOTENCY_KEY_MISSING"),
        (offline_payment(idempotencyKey="has space"), "idempotencyKey", "IDEMPOTENCY_KEY_INVALID"),
        (offline_payment(collectedAt=None), "collectedAt", "REQUIRED"),
        (offline_payment(tenantId=None), "tenantId", "REQUIRED"),
        (offline_payment(bills=[]), "bills", "INVALID_BILL_COUNT"),
        (offline_payment(receiptNumber="1"), "receiptNumber", "UNKNOWN_FIELD"),
    ],
)
def test_what_the_batch_schema_refuses_the_server_refuses(
    edge: Edge, document: dict[str, Any], item: dict[str, Any], field: str, code: str
) -> None:
    """The published OfflinePayment is the item the view loads: what it does not allow is the
    item the server refuses, on the field it names."""
    item_schema = batch_media(document)["schema"]
    assert not validator(document, item_schema).is_valid({"payments": [item]})
    with_offline(edge)

    response = edge.client.post(
        "/v1/payments/batch",
        data=jsonutil.dumps({"payments": [offline_payment(idempotencyKey="ok-1"), item]}),
        headers=edge.headers(),
        content_type="application/json",
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    first, second = response.get_json()["payments"]
    assert first["outcome"] == "accepted"
    assert second["outcome"] == "refused"
    assert (second["problem"]["field"], second["problem"]["code"]) == (field, code)


def every_outcome(item: OfflineItem) -> ItemResult:
    """accepted, quarantined (each kind of conflict the domain stores), or refused."""
    key = item.idempotency_key
    quarantined = make_payment(status=PaymentStatus.NEEDS_ATTENTION, key=key)
    conflicts: dict[str, dict[str, Any]] = {
        "too-old": {
            "code": "COLLECTED_TOO_LONG_AGO",
            "message": "collected longer ago than this device may hold a payment offline",
            "offlineMaxAgeSeconds": 3600,
            "offlineCashLimit": Decimal("20000.00"),
        },
        "busy": {
            "code": "PAYMENT_IN_PROGRESS",
            "message": "another payment of this consumer is under way",
            "otherPaymentId": None,
        },
        "paid": {
            "code": "BILL_ALREADY_PAID",
            "message": "DIGIT already holds a payment for bill bill-1",
            "violations": [
                {"code": "BILL_ALREADY_PAID", "field": "bills[0].billId", "message": "paid"}
            ],
            "bills": [
                {"billId": "bill-1", "amount": Decimal(1200), "servedTotal": Decimal("1200.0"),
                 "currentTotal": Decimal(0)},
            ],
        },
    }  # fmt: skip
    if key in conflicts:
        return ItemResult(
            idempotency_key=key,
            outcome=Outcome.QUARANTINED,
            payment=quarantined,
            code=conflicts[key]["code"],
            conflict=conflicts[key],
        )
    if key == "down":
        return ItemResult(
            idempotency_key=key,
            outcome=Outcome.REFUSED,
            code="DIGIT_UNAVAILABLE",
            message="DIGIT cannot be reached to check this payment: upload it again later",
            retry_after=30,
        )
    return accept_every_item(item)


def test_the_offline_answers_match_their_published_schemas(
    edge: Edge, document: dict[str, Any]
) -> None:
    cash = FakeCash(
        limits_of=DeviceLimits(
            offline_max_age_seconds=3600,
            offline_cash_limit=Decimal("20000.00"),
            cash_in_hand_cap=None,
        ),
        holdings=[Holding(tenant_id="pb.amritsar", payment_mode="CASH", amount=Decimal(815))],
    )
    with_offline(edge, cash=cash, uploads=FakeUploads(answer=every_outcome))
    keys = ["ok", "too-old", "busy", "paid", "down"]
    batch = {"payments": [offline_payment(idempotencyKey=k) for k in keys] + ["not an object"]}
    h = edge.headers()

    answers = {
        "BatchAnswer": edge.client.post(
            "/v1/payments/batch",
            data=jsonutil.dumps(batch),
            headers=h,
            content_type="application/json",
        ),
        "DeviceLimits": edge.client.get("/v1/devices/me/limits", headers=h),
        "DeviceCash": edge.client.get("/v1/devices/me/cash", headers=h),
    }

    for name, response in answers.items():
        assert response.status_code == 200, response.get_data(as_text=True)
        schema = {"$ref": f"#/components/schemas/{name}"}
        validator(document, schema).validate(json.loads(response.data))
    outcomes = [a["outcome"] for a in answers["BatchAnswer"].get_json()["payments"]]
    assert outcomes == ["accepted", *["quarantined"] * 3, "refused", "refused"]


def test_the_webhooks_doc_shows_whole_rupees() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text("utf-8")

    assert "1200.50" not in text
