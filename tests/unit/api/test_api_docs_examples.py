"""Every operation is described and has examples; request examples pass the server's checks and
answer examples match their published schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from integrator import jsonutil
from integrator.api import examples, receipts
from integrator.api.openapi import build_spec
from integrator.api.reports import document_paths
from tests.unit.api.conftest import Edge


@pytest.fixture
def document() -> dict[str, Any]:
    """The document of an app with every /v1 route, the settlement report's and the printable
    receipt's included."""
    spec = build_spec()
    document_paths(spec)
    receipts.document_paths(spec)
    parsed: dict[str, Any] = json.loads(jsonutil.dumps(spec.to_dict()))
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


def test_every_operation_has_a_summary_a_description_and_a_success_example(
    document: dict[str, Any],
) -> None:
    for path, method, op in operations(document):
        assert op.get("summary") and op.get("description"), (path, method)
        successes = [r for status, r in op["responses"].items() if status.startswith("2")]
        assert successes and all(
            "example" in media for r in successes for media in r["content"].values()
        ), (path, method)


def test_answer_examples_match_their_published_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media:
                    validator(document, media["schema"]).validate(media["example"])
                    checked += 1
    problem = document["components"]["schemas"]["Problem"]
    validator(document, problem).validate(examples.PROBLEM_ANSWER)
    assert checked >= 8  # the settlement report's too


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


def test_the_webhooks_doc_shows_whole_rupees() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text("utf-8")

    assert "1200.50" not in text
