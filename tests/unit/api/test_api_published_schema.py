"""What /openapi.json publishes, the server accepts: requests generated from the published document
are never refused for their SHAPE (a code of kind SHAPE in the error catalogue).

They may be refused for a reason the schema cannot state (a RULE: the bill's payability, an
instrument date outside DIGIT's window, a collectedAt ahead of the clock; or AUTH: a tenant the
device may not act for). The use cases are fakes that apply the domain's pure rules
(`check_mode`, `check_instrument`, `check_amount_shape`), so a rule the schema does not publish
shows up as a SHAPE code here. The published extensions a generator cannot read by itself are
honoured as published: `x-unique-by` on bills, `x-earliest`/`x-latest` on collectedAt and
instrumentDate, and `x-query-forms` on GET /v1/bills.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from integrator.api.problems import CATALOGUE, Kind, codes_of
from integrator.api.wire import DEFAULT_TIMEZONE
from integrator.payments import rules
from integrator.payments.models import PaymentRejected
from integrator.payments.use_cases import AcceptOutcome, BillOffer, PaymentRequest
from tests.unit.api.conftest import NOW, Edge, FakePayments, build_edge

SHAPE = codes_of(Kind.SHAPE)
EXAMPLES = 150

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def check_domain_rules(request: PaymentRequest) -> None:
    """The pure rules the real use cases apply before anything else, as PaymentRejected."""
    violations = [
        *rules.check_mode(request.payment_mode, []),
        *rules.check_instrument(
            request.payment_mode,
            request.instrument_number,
            request.instrument_date,
            request.transaction_number,
            today=rules.local_today(NOW, DEFAULT_TIMEZONE),
        ),
    ]
    for i, line in enumerate(request.bills):
        violations.extend(rules.check_amount_shape(f"bills[{i}].amount", line.amount))
    if violations:
        raise PaymentRejected(violations)


class RuleCheckingPayments(FakePayments):
    def validate_payment(self, *, device: Any, request: PaymentRequest) -> list[BillOffer]:
        check_domain_rules(request)
        return super().validate_payment(device=device, request=request)

    def accept_payment(
        self, *, device: Any, idempotency_key: str, request: PaymentRequest
    ) -> AcceptOutcome:
        check_domain_rules(request)
        return super().accept_payment(
            device=device, idempotency_key=idempotency_key, request=request
        )


@pytest.fixture
def rule_edge() -> Edge:
    return build_edge(payments=RuleCheckingPayments())


@pytest.fixture
def published(rule_edge: Edge) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(rule_edge.client.get("/openapi.json").data)
    return document


def shape_codes(response: Any) -> set[str]:
    """The SHAPE codes of a refusal (top-level and per field); empty for an answer."""
    if response.status_code < 400:
        return set()
    body = response.get_json()
    codes = {body["code"], *(e["code"] for e in body["errors"])}
    assert codes <= set(CATALOGUE) | {e["code"] for e in body["errors"]}, codes
    return codes & SHAPE


def within_published_bounds(body: Any, document: dict[str, Any]) -> bool:
    """The body honours PaymentRequest's published `x-earliest`/`x-latest` (collectedAt, a
    date-time; instrumentDate, a day)."""
    properties = document["components"]["schemas"]["PaymentRequest"]["properties"]
    for name, field in properties.items():
        value = body.get(name)
        if not isinstance(value, str) or "x-earliest" not in field:
            continue
        read = date.fromisoformat if field.get("format") == "date" else datetime.fromisoformat
        try:
            if read(value) < read(field["x-earliest"]):
                return False
            if "x-latest" in field and read(value) > read(field["x-latest"]):
                return False
        except (ValueError, TypeError):  # unread by Python, or naive: the server decides
            continue
    return True


def unique_by(body: Any, document: dict[str, Any]) -> bool:
    """The body honours PaymentRequest.bills' published `x-unique-by`."""
    key = document["components"]["schemas"]["PaymentRequest"]["properties"]["bills"]["x-unique-by"]
    ids = [line[key] for line in body["bills"]]
    return len(ids) == len(set(ids))


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/validate"])
def test_payments_generated_from_the_published_schema_are_never_refused_for_shape(
    rule_edge: Edge, published: dict[str, Any], path: str
) -> None:
    operation = schemathesis.openapi.from_dict(published)[path]["POST"]
    device_tenant = st.sampled_from([None, "pb.amritsar"])  # the device's own, or as generated
    statuses: dict[int, int] = {}

    @given(case=operation.as_strategy(GenerationMode.POSITIVE), tenant=device_tenant)
    @SETTINGS
    def generated(case: Any, tenant: str | None) -> None:
        body = copy.deepcopy(case.body)
        assume(unique_by(body, published))
        assume(within_published_bounds(body, published))
        if tenant is not None:
            body["tenantId"] = tenant
        key = (case.headers or {}).get("Idempotency-Key")  # generated from the header's schema
        response = rule_edge.post_payment(raw=json.dumps(body), path=path, key=key)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert not shape_codes(response), (body, response.get_data(as_text=True))

    generated()
    # not vacuous: many requests got through every check of the edge and the domain's rules
    assert sum(n for status, n in statuses.items() if status < 300) >= EXAMPLES // 10, statuses


def one_form(document: dict[str, Any], form: dict[str, list[str]]) -> dict[str, Any]:
    """The document with GET /v1/bills' parameters as one of its published `x-query-forms`."""
    narrowed = copy.deepcopy(document)
    operation = narrowed["paths"]["/v1/bills"]["get"]
    kept = {"tenantId", *form["required"], *form["optional"]}
    parameters = []
    for parameter in operation["parameters"]:
        if "$ref" in parameter:
            parameters.append(parameter)
        elif parameter["name"] in kept:
            parameter["required"] = parameter["required"] or parameter["name"] in form["required"]
            if parameter["name"] == "tenantId":  # the tenants this form takes
                parameter["schema"]["pattern"] = form["tenantIdPattern"]
            parameters.append(parameter)
    operation["parameters"] = parameters
    return narrowed


def test_bills_queries_of_each_published_form_are_never_refused_for_shape(
    rule_edge: Edge, published: dict[str, Any]
) -> None:
    forms = published["paths"]["/v1/bills"]["get"]["x-query-forms"]
    assert len(forms) == 2
    answered = 0

    for form in forms:
        operation = schemathesis.openapi.from_dict(one_form(published, form))["/v1/bills"]["GET"]
        device_tenant = st.sampled_from([None, "pb.amritsar"])

        def run(operation: Any = operation) -> Callable[[], None]:
            @given(case=operation.as_strategy(GenerationMode.POSITIVE), tenant=device_tenant)
            @SETTINGS
            def generated(case: Any, tenant: str | None) -> None:
                nonlocal answered
                query = dict(case.query or {})
                if tenant is not None:
                    query["tenantId"] = tenant
                response = rule_edge.client.get(
                    "/v1/bills", query_string=query, headers=rule_edge.headers()
                )
                answered += response.status_code == 200
                assert not shape_codes(response), (query, response.get_data(as_text=True))

            return generated

        run()()
    assert answered >= EXAMPLES // 5


def test_a_query_in_neither_form_is_refused_with_a_message_that_says_what_to_give(
    rule_edge: Edge,
) -> None:
    response = rule_edge.client.get("/v1/bills?tenantId=pb.amritsar", headers=rule_edge.headers())

    [error] = response.get_json()["errors"]
    assert error == {
        "field": "consumerCode",
        "code": "ONE_FORM",
        "message": "Give consumerCode (with businessService) or mobileNumber.",
    }
