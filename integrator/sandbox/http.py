"""HTTP helpers shared by the sandbox's blueprints: Decimal JSON in and out, DIGIT envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, request

from integrator import jsonutil
from integrator.sandbox.errors import SandboxError


def json_response(body: Any, status: int = 200) -> Response:
    return Response(jsonutil.dumps(body), status=status, mimetype="application/json")


def json_body() -> dict[str, Any]:
    """The request's JSON object (numbers as Decimal); an empty object when there is no body."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = jsonutil.loads(raw)
    except ValueError:
        raise SandboxError.unhandled(
            "org.springframework.http.converter.HttpMessageNotReadableException"
        ) from None
    if not isinstance(value, dict):
        raise SandboxError.unhandled(
            "org.springframework.http.converter.HttpMessageNotReadableException"
        )
    return value


def pick(obj: Any, key: str) -> Any:
    """A key looked up case-insensitively, as billing and collection read JSON
    (docs/digit.md#errors)."""
    if not isinstance(obj, Mapping):
        return None
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def request_info(body: Mapping[str, Any]) -> dict[str, Any]:
    info = pick(body, "RequestInfo")
    return info if isinstance(info, dict) else {}


def ok_response_info(body: Mapping[str, Any], status: str = "200 OK") -> dict[str, Any]:
    """ResponseInfo echoing the caller's RequestInfo, as DIGIT's factories build it."""
    info = request_info(body)
    return {
        "apiId": pick(info, "apiId"),
        "ver": pick(info, "ver"),
        "ts": pick(info, "ts"),
        "resMsgId": "uief87324",
        "msgId": pick(info, "msgId"),
        "status": status,
    }


def billing_response_info(body: Mapping[str, Any], status: str) -> dict[str, Any]:
    """billing-service's ResponseInfo: no resMsgId (docs/digit.md#errors)."""
    info = ok_response_info(body, status)
    del info["resMsgId"]
    return info


def query_list(name: str) -> list[str]:
    """A Set<String> query param: repeated and/or comma-separated values."""
    values: list[str] = []
    for raw in request.args.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def query(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()
