"""MDMS master data the sandbox serves (digest 8, 12) and the `/egov-mdms-service/v1/_search` view.

BillingService.BusinessService and BillingService.TaxHeadMaster are the Punjab reference files
copied into `data/`; tenant.tenants is the sandbox's own state `pb` with two cities.
"""

from __future__ import annotations

import copy
import functools
import re
from decimal import Decimal
from importlib import resources
from typing import Any

from flask import Blueprint

from integrator import jsonutil
from integrator.sandbox.http import json_body, json_response, ok_response_info, pick
from integrator.sandbox.world import World

STATE_TENANT = "pb"

TENANTS: tuple[dict[str, Any], ...] = (
    {
        "code": "pb",
        "name": "Punjab",
        "description": "Punjab",
        "type": "STATE",
        "emailId": None,
        "contactNumber": None,
        "address": None,
        "city": {
            "name": "Punjab",
            "localName": None,
            "districtCode": None,
            "districtName": None,
            "regionName": None,
            "ulbGrade": "ST",
            "code": "0",
        },
    },
    {
        "code": "pb.amritsar",
        "name": "Amritsar",
        "description": "Amritsar",
        "type": "CITY",
        "emailId": "amritsar@example.org",
        "contactNumber": "0183-2545155",
        "address": "Municipal Corporation Amritsar, Punjab",
        "city": {
            "name": "Amritsar",
            "localName": "ਅੰਮ੍ਰਿਤਸਰ",
            "districtCode": "1",
            "districtName": "Amritsar",
            "regionName": "Amritsar Region",
            "ulbGrade": "Municipal Corporation",
            "code": "107",
        },
    },
    {
        "code": "pb.jalandhar",
        "name": "Jalandhar",
        "description": "Jalandhar",
        "type": "CITY",
        "emailId": "jalandhar@example.org",
        "contactNumber": "0181-2227064",
        "address": "Municipal Corporation Jalandhar, Punjab",
        "city": {
            "name": "Jalandhar",
            "localName": "ਜਲੰਧਰ",
            "districtCode": "4",
            "districtName": "Jalandhar",
            "regionName": "Jalandhar Region",
            "ulbGrade": "Municipal Corporation",
            "code": "1013",
        },
    },
)

CITY_TENANTS = tuple(t["code"] for t in TENANTS if "." in t["code"])


def _load(name: str) -> Any:
    text = resources.files("integrator.sandbox").joinpath("data", name).read_text("utf-8")
    return jsonutil.loads(text)


@functools.cache
def business_services() -> tuple[dict[str, Any], ...]:
    return tuple(_load("BusinessService.json")["BusinessService"])


@functools.cache
def tax_heads() -> tuple[dict[str, Any], ...]:
    return tuple(_load("TaxHeadMaster.json")["TaxHeadMaster"])


def business_service(code: str) -> dict[str, Any] | None:
    for record in business_services():
        if record.get("code") == code:
            return record
    return None


@functools.cache
def _tax_head_orders() -> dict[str, int]:
    return {str(head["code"]): int(head.get("order") or 0) for head in tax_heads()}


def tax_head_order(code: str) -> int:
    return _tax_head_orders().get(code, 0)


def advance_head(service: str) -> str:
    """The service's ADVANCE_COLLECTION tax head, e.g. WS_ADVANCE_CARRYFORWARD."""
    for head in tax_heads():
        if head.get("service") == service and head.get("category") == "ADVANCE_COLLECTION":
            return str(head["code"])
    return f"{service.split('.')[0]}_ADVANCE_CARRYFORWARD"


def city_name(tenant_id: str) -> str:
    for tenant in TENANTS:
        if tenant["code"] == tenant_id:
            return str(tenant["city"]["name"])
    return tenant_id.split(".")[-1]


_CONDITION = re.compile(r"""@\.([A-Za-z0-9_]+)\s*==\s*('[^']*'|"[^"]*"|[^\s&|)]+)""")


def _literal(raw: str) -> Any:
    if raw[:1] in {"'", '"'}:
        return raw[1:-1]
    if raw in {"true", "false"}:
        return raw == "true"
    try:
        return Decimal(raw)
    except ArithmeticError:
        return raw


def apply_filter(records: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """Equality JSONPath filters: `[?(@.code=='WS')]`, joined by && or ||."""
    if not expression or not expression.strip():
        return records
    any_of = "||" in expression
    conditions = [(field, _literal(raw)) for field, raw in _CONDITION.findall(expression)]
    if not conditions:
        return records

    def matches(record: dict[str, Any]) -> bool:
        hits = [record.get(field) == value for field, value in conditions]
        return any(hits) if any_of else all(hits)

    return [r for r in records if matches(r)]


def masters(tenant_id: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every master the sandbox knows, by module then master name, for a tenant."""
    if tenant_id.split(".")[0] != STATE_TENANT:
        return {}
    return {
        "BillingService": {
            "BusinessService": list(business_services()),
            "TaxHeadMaster": list(tax_heads()),
        },
        "tenant": {"tenants": list(TENANTS)},
    }


def mdms_search(criteria: dict[str, Any]) -> dict[str, Any]:
    tenant_id = str(pick(criteria, "tenantId") or "")
    known = masters(tenant_id)
    result: dict[str, Any] = {}
    for module in pick(criteria, "moduleDetails") or []:
        module_name = str(pick(module, "moduleName") or "")
        module_data = known.get(module_name)
        if module_data is None:
            continue
        out: dict[str, Any] = {}
        for master in pick(module, "masterDetails") or []:
            name = str(pick(master, "name") or "")
            if name in module_data:
                records = copy.deepcopy(module_data[name])
                out[name] = apply_filter(records, pick(master, "filter"))
        result[module_name] = out
    return result


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_mdms", __name__)

    @bp.post("/egov-mdms-service/v1/_search")
    def search() -> Any:
        body = json_body()
        criteria = pick(body, "MdmsCriteria") or {}
        return json_response(
            {"ResponseInfo": ok_response_info(body), "MdmsRes": mdms_search(criteria)}
        )

    return bp
