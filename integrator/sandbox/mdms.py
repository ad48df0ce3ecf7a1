"""MDMS master data the sandbox serves (docs/digit.md#mdms) and its search views.

BillingService.BusinessService and BillingService.TaxHeadMaster are the Punjab reference files
copied into `data/`; tenant.tenants is the sandbox's own state `pb` with three cities.
`pb.nawanshahr` has its own BusinessService file (PT, WC and TL only; PT `isAdvanceAllowed:true`),
rebuilt from the description of MDMS `data/pb/nawanshahr/BillingService/`.

Searched with a city tenant:
- v1 semantics (the default; egov-mdms-service): a master flagged `isStateLevel` (all the masters
  here) always comes from the state's files, so Nawanshahr's own file is ignored;
- v2 semantics (mdms-v2, chosen with `--mdms v2` or `POST /_sandbox/mdms`): per master, after the
  filter, the most specific tenant of the chain city -> state that has rows wins, no merge.
A tenant with no MDMS data at all answers 400 `Invalid_tenantId.MdmsCriteria.tenantId` under v1
(corrections 7); under v2 a city of the state without rows of its own gets the state's (v2 reads
`tenantid LIKE '<state>%'`, corrections 8), while a tenant outside the seed is still refused.
`POST /_sandbox/mdms` can take a city's data away (`withoutData`: a collectable city with no MDMS
data) or give a city its own BusinessService file made of the state's records for some codes
(`cityBusinessServices`, e.g. a v2 city lacking WS); the seed's files are used otherwise.
`/egov-mdms-service/v1/_search` and `/mdms-v2/v1/_search` take the same request and answer the
same body, `{"ResponseInfo":null,"MdmsRes":{...}}`, with the semantics the sandbox runs.
Collection reads BusinessService the same way, with the payment's city tenant.
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
from integrator.sandbox.errors import SandboxError
from integrator.sandbox.http import json_body, json_response, pick
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
    {
        "code": "pb.nawanshahr",
        "name": "Nawanshahr",
        "description": "Nawanshahr",
        "type": "CITY",
        "emailId": "nawanshahr@example.org",
        "contactNumber": "01823-220012",
        "address": "Municipal Council Nawanshahr, Punjab",
        "city": {
            "name": "Nawanshahr",
            "localName": "ਨਵਾਂਸ਼ਹਿਰ",
            "districtCode": "18",
            "districtName": "Shaheed Bhagat Singh Nagar",
            "regionName": "Jalandhar Region",
            "ulbGrade": "Municipal Council",
            "code": "1801",
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
def city_business_services() -> dict[str, tuple[dict[str, Any], ...]]:
    """Cities' own BusinessService files, by tenant."""
    return {"pb.nawanshahr": tuple(_load("nawanshahr-BusinessService.json")["BusinessService"])}


@functools.cache
def tax_heads() -> tuple[dict[str, Any], ...]:
    return tuple(_load("TaxHeadMaster.json")["TaxHeadMaster"])


def business_service(code: str) -> dict[str, Any] | None:
    """The state's record for a business service code."""
    for record in business_services():
        if record.get("code") == code:
            return record
    return None


def business_service_for(world: World, tenant_id: str, code: str) -> dict[str, Any] | None:
    """What collection reads: the whole master for the payment's tenant, then the code's record."""
    found = search_master(world, tenant_id, "BillingService", "BusinessService", None)
    for record in found:
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


def _tenant_data(world: World, tenant_id: str) -> dict[str, dict[str, list[dict[str, Any]]]] | None:
    """The masters in one tenant's own files; None when the tenant has no MDMS data at all."""
    if tenant_id in world.mdms_without_data:
        return None
    if tenant_id in world.mdms_city_services:
        codes = world.mdms_city_services[tenant_id]
        chosen = [r for r in business_services() if r.get("code") in codes]
        return {"BillingService": {"BusinessService": chosen}}
    if tenant_id == STATE_TENANT:
        return {
            "BillingService": {
                "BusinessService": list(business_services()),
                "TaxHeadMaster": list(tax_heads()),
            },
            "tenant": {"tenants": list(TENANTS)},
        }
    if tenant_id not in CITY_TENANTS:
        return None
    own = city_business_services().get(tenant_id)
    return {"BillingService": {"BusinessService": list(own)}} if own else {}


def invalid_tenant() -> SandboxError:
    return SandboxError.custom("Invalid_tenantId.MdmsCriteria.tenantId", "Invalid Tenant Id")


def search_master(
    world: World, tenant_id: str, module: str, master: str, expression: str | None
) -> list[dict[str, Any]]:
    """One master for a tenant, with the semantics the sandbox runs (v1 or v2)."""
    _require_known(world, tenant_id)
    chain = [tenant_id] if "." not in tenant_id else [tenant_id, tenant_id.split(".")[0]]
    if world.mdms_semantics == "v1":
        chain = chain[-1:]  # every master served here is isStateLevel: the state's files
    for tenant in chain:
        data = _tenant_data(world, tenant) or {}
        records = data.get(module, {}).get(master)
        if records is None:
            continue
        found = apply_filter(copy.deepcopy(records), expression)
        if found or world.mdms_semantics == "v1":
            return found
    return []


def _require_known(world: World, tenant_id: str) -> None:
    """Invalid_tenantId for a tenant without MDMS data (v1); v2 only refuses one it cannot
    place in the state (a seeded city without data of its own gets the state's rows)."""
    if _tenant_data(world, tenant_id) is not None:
        return
    if world.mdms_semantics == "v2" and tenant_id in CITY_TENANTS:
        return
    raise invalid_tenant()


def known_master(world: World, module: str, master: str) -> bool:
    state = _tenant_data(world, STATE_TENANT) or {}
    return master in state.get(module, {})


def mdms_search(world: World, criteria: dict[str, Any]) -> dict[str, Any]:
    tenant_id = str(pick(criteria, "tenantId") or "")
    _require_known(world, tenant_id)
    result: dict[str, Any] = {}
    for module in pick(criteria, "moduleDetails") or []:
        module_name = str(pick(module, "moduleName") or "")
        out: dict[str, Any] = {}
        for master in pick(module, "masterDetails") or []:
            name = str(pick(master, "name") or "")
            if known_master(world, module_name, name):
                out[name] = search_master(
                    world, tenant_id, module_name, name, pick(master, "filter")
                )
        if out:
            result[module_name] = out
    return result


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_mdms", __name__)

    def search() -> Any:
        criteria = pick(json_body(), "MdmsCriteria") or {}
        with world.lock:
            found = mdms_search(world, criteria)
        return json_response({"ResponseInfo": None, "MdmsRes": found})

    bp.add_url_rule("/egov-mdms-service/v1/_search", "search", search, methods=["POST"])
    bp.add_url_rule("/mdms-v2/v1/_search", "search_v2", search, methods=["POST"])

    return bp
