"""/openapi.json documents every /v1 route from the views' own schemas; /docs works offline."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.unit.api.conftest import Edge


@pytest.fixture
def document(edge: Edge) -> dict[str, Any]:
    response = edge.client.get("/openapi.json")
    assert response.status_code == 200
    parsed: dict[str, Any] = json.loads(response.data)  # stdlib floats: what a client sees
    return parsed


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_v1_route_and_method_is_documented(edge: Edge, document: dict[str, Any]) -> None:
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in edge.app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}

    assert routes and routes == documented


def test_headers_security_and_problems_are_documented(document: dict[str, Any]) -> None:
    components = document["components"]
    assert components["securitySchemes"]["deviceKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The device's API key.",
    }
    assert document["security"] == [{"deviceKey": []}]
    assert {"Retry-After", "X-Request-ID", "Location", "Idempotent-Replayed"} <= set(
        components["headers"]
    )
    create = document["paths"]["/v1/payments"]["post"]
    params = [p.get("$ref", "") for p in create["parameters"]]
    assert "#/components/parameters/IdempotencyKey" in params
    assert {"200", "201", "202", "400", "401", "409", "413", "422", "429", "503"} <= set(
        create["responses"]
    )
    assert "Idempotent-Replayed" in create["responses"]["200"]["headers"]
    assert set(components["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "errors",
    }


def test_request_schema_carries_the_field_rules(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    request = schemas["PaymentRequest"]
    props = request["properties"]
    assert set(request["required"]) == {"tenantId", "paymentMode", "paidBy", "bills"}
    assert props["paymentMode"]["enum"][0] == "CASH" and len(props["paymentMode"]["enum"]) == 10
    assert props["mobileNumber"]["pattern"] == "^[6-9][0-9]{9}$"
    assert props["paidBy"]["maxLength"] == 128
    assert props["bills"]["maxItems"] == 20 and props["bills"]["minItems"] == 1
    assert props["instrumentDate"]["format"] == "date"
    assert props["collectedAt"]["format"] == "date-time"
    amount = schemas["BillLine"]["properties"]["amount"]
    assert amount["type"] == "integer" and amount["minimum"] == 1
    assert amount["maximum"] == 999_999_999 and "multipleOf" not in amount


def test_query_parameters_come_from_the_query_schemas(document: dict[str, Any]) -> None:
    params = {p["name"] for p in document["paths"]["/v1/bills"]["get"]["parameters"] if "name" in p}
    assert params == {"tenantId", "businessService", "consumerCode", "mobileNumber"}


def test_docs_page_is_self_contained(edge: Edge) -> None:
    response = edge.client.get("/docs")

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "openapi.json" in html
    assert not re.search(r"(?i)(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html


def test_tax_head_lines_are_documented_as_carrying_paise(document: dict[str, Any]) -> None:
    # DIGIT's tax heads are split to the paisa (30.30, -0.38); only the amounts a device sends
    # and the totals it pays are whole rupees
    schemas = document["components"]["schemas"]
    for name in ("TaxHeadAmount", "TaxHeadLine"):
        amount = schemas[name]["properties"]["amount"]
        assert "paise" in amount["description"] and "without decimals" not in amount["description"]
    assert "answers write them the same way" not in document["info"]["description"]
    assert "tax head" in document["info"]["description"]
