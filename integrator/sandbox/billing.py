"""billing-service v2: bill generation from demands, `_fetchbill`, `_search` (docs/digit.md#bills).

Bills are stored JSON-ready (BillV2 shape, section 4.3) in creation order, so "latest" is "last".

- Both endpoints sit behind the gateway's role check (`rbac`) and refuse an EMPLOYEE with a
  state-level tenantId (no dot): 400 `EG_BS_INVALID_TENANTID`, the OSS master rule (Corrections 1).
- `_search?mobileNumber=` only matches the stored payer mobile of existing bills, latest bill per
  consumerCode, and never generates.
- `_fetchbill?mobileNumber=` (Corrections 2): (a) ACTIVE bills of that service with that payer
  mobile; (b) if none, generate one bill per consumerCode from the unpaid ACTIVE demands whose
  payer is a state-level citizen with that mobile; (c) if some, only those bills are returned
  (regenerated if expired): the lookup meant to add unbilled consumer codes matches nothing.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint

from integrator.sandbox import mdms
from integrator.sandbox.errors import SandboxError
from integrator.sandbox.http import (
    billing_response_info,
    json_body,
    json_response,
    query,
    query_list,
)
from integrator.sandbox.rbac import authorized_user
from integrator.sandbox.world import KOLKATA, Consumer, Demand, User, World, citizen_uuid

# statelevel.rolecode.excluded.list (OSS billing application.properties l.164)
STATE_LEVEL_EXCLUDED_ROLES = frozenset({"BPAREG_DOC_VERIFIER", "BPAREG_APPROVER"})


def expiry_for(world: World, demand: Demand) -> int:
    """23:59:59 (Asia/Kolkata) of the demand's fixed expiry, or of now + billExpiryTime."""
    if demand.fixed_expiry_ms is not None:
        day = datetime.fromtimestamp(demand.fixed_expiry_ms / 1000, tz=KOLKATA).date()
    else:
        day = (world.now() + timedelta(days=world.config.bill_expiry_days)).date()
    return int(datetime.combine(day, time(23, 59, 59), tzinfo=KOLKATA).timestamp() * 1000)


def _audit(world: World, by: str = "sandbox") -> dict[str, Any]:
    now = world.now_ms()
    return {"createdBy": by, "lastModifiedBy": by, "createdTime": now, "lastModifiedTime": now}


def payer_uuid(mobile: str) -> str:
    return citizen_uuid(mobile)


def validate_tenant_for_user_type(user: User, tenant_id: str) -> None:
    """`Util.validateTenantIdForUserType`, OSS master: no state-level tenant for employees."""
    if (
        user.type == "EMPLOYEE"
        and "." not in tenant_id
        and not user.role_codes & STATE_LEVEL_EXCLUDED_ROLES
    ):
        raise SandboxError.custom(
            "EG_BS_INVALID_TENANTID", "Employees cannot search based on state level tenantid"
        )


def generate_bill(world: World, consumer: Consumer) -> dict[str, Any] | None:
    """A new ACTIVE bill for what is still due, or None when nothing (or a net advance) is due."""
    demands = sorted(
        (d for d in world.demands_of(*consumer.key) if not d.payment_completed),
        key=lambda d: d.from_period_ms,
    )
    if not demands:
        return None
    bill_id = str(uuid.uuid4())
    tenant = consumer.tenant_id
    details: list[dict[str, Any]] = []
    for demand in demands:
        detail_id = str(uuid.uuid4())
        merged: dict[str, tuple[Decimal, str]] = {}
        for line in demand.details:
            amount, first_id = merged.get(line.tax_head_code, (Decimal(0), line.id))
            merged[line.tax_head_code] = (amount + line.due, first_id)
        accounts: list[dict[str, Any]] = [
            {
                "id": str(uuid.uuid4()),
                "tenantId": tenant,
                "billDetailId": detail_id,
                "demandDetailId": demand_detail_id,
                "order": mdms.tax_head_order(head),
                "amount": amount,
                "adjustedAmount": Decimal(0),
                "taxHeadCode": head,
                "additionalDetails": None,
                "auditDetails": _audit(world),
            }
            for head, (amount, demand_detail_id) in merged.items()
            if amount != 0
        ]
        accounts.sort(key=lambda a: (a["order"], a["taxHeadCode"]))
        details.append(
            {
                "id": detail_id,
                "tenantId": tenant,
                "demandId": demand.id,
                "billId": bill_id,
                "expiryDate": expiry_for(world, demand),
                "amount": sum((a["amount"] for a in accounts), Decimal(0)),
                "amountPaid": None,
                "fromPeriod": demand.from_period_ms,
                "toPeriod": demand.to_period_ms,
                "additionalDetails": None,
                "billAccountDetails": accounts,
            }
        )
    total = sum((d["amount"] for d in details), Decimal(0))
    if total < 0:
        return None
    module = consumer.business_service.split(".")[0]
    seq = world.next_seq(f"billnumber:{tenant}", start=100)
    bill = {
        "id": bill_id,
        "userId": consumer.payer_uuid,
        "mobileNumber": consumer.mobile_number,
        "payerName": consumer.payer_name,
        "payerAddress": consumer.payer_address,
        "payerEmail": None,
        "status": "ACTIVE",
        "totalAmount": total,
        "businessService": consumer.business_service,
        "billNumber": f"BILLNO-{module}-{seq:06d}",
        "billDate": world.now_ms(),
        "consumerCode": consumer.consumer_code,
        "additionalDetails": None,
        "billDetails": details,
        "tenantId": tenant,
        "fileStoreId": None,
        "auditDetails": _audit(world),
    }
    world.bills.append(bill)
    return bill


def bills_of(world: World, consumer: Consumer, status: str | None = None) -> list[dict[str, Any]]:
    return [
        b
        for b in world.bills
        if (b["tenantId"], b["businessService"], b["consumerCode"]) == consumer.key
        and (status is None or b["status"] == status)
    ]


def set_status(world: World, bills: list[dict[str, Any]], status: str) -> None:
    for bill in bills:
        bill["status"] = status
        bill["auditDetails"]["lastModifiedTime"] = world.now_ms()


def expire_active_bills(world: World, consumer: Consumer) -> None:
    """A demand create/update marks the consumer's ACTIVE bills EXPIRED
    (docs/digit.md#back-update)."""
    set_status(world, bills_of(world, consumer, "ACTIVE"), "EXPIRED")


def fetch_for(world: World, consumer: Consumer) -> tuple[dict[str, Any] | None, bool]:
    """The consumer's payable bill and whether this call generated it (docs/digit.md#bills)."""
    active = bills_of(world, consumer, "ACTIVE")
    if active:
        latest = active[-1]
        now = world.now_ms()
        if all(
            d["expiryDate"] is not None and d["expiryDate"] > now for d in latest["billDetails"]
        ):
            return latest, False
        set_status(world, active, "EXPIRED")
    return generate_bill(world, consumer), True


def fetch_bills(
    world: World, tenant_id: str, service: str, codes: list[str], mobile: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """`BillServicev2.fetchBill`: the bills and whether one was generated in this call."""
    with world.lock:
        world.settle()
        if mobile is not None:
            return _fetch_by_mobile(world, tenant_id, service, codes, mobile)
        consumers = [
            c
            for c in world.consumers
            if _tenant_matches(tenant_id, c.tenant_id)
            and c.business_service == service
            and (not codes or c.consumer_code in codes)
        ]
        return _fetch_for_all(world, consumers)


def _fetch_for_all(world: World, consumers: list[Consumer]) -> tuple[list[dict[str, Any]], bool]:
    bills: list[dict[str, Any]] = []
    generated = False
    for consumer in consumers:
        bill, fresh = fetch_for(world, consumer)
        if bill is not None:
            bills.append(bill)
            generated = generated or fresh
    return copy.deepcopy(bills), generated


def _fetch_by_mobile(
    world: World, tenant_id: str, service: str, codes: list[str], mobile: str
) -> tuple[list[dict[str, Any]], bool]:
    """Steps (a)-(c) of Corrections 2."""
    active = [
        b
        for b in world.bills
        if b["status"] == "ACTIVE"
        and b["businessService"] == service
        and b["mobileNumber"] == mobile
        and _tenant_matches(tenant_id, b["tenantId"])
        and (not codes or b["consumerCode"] in codes)
    ]
    if active:  # (c): only the consumers already billed; unbilled ones are never added
        keys = dict.fromkeys(
            (b["tenantId"], b["businessService"], b["consumerCode"]) for b in active
        )
        billed = [c for c in world.consumers if c.key in keys]
        return _fetch_for_all(world, billed)
    # (b): egov-user `_search` at the state tenant (citizens only), then the demands they pay
    state = tenant_id.split(".")[0]
    payers = {
        c.uuid
        for c in world.citizens.values()
        if c.mobile_number == mobile and c.tenant_id == state
    }
    bills: list[dict[str, Any]] = []
    for consumer in world.consumers:
        if (
            consumer.payer_uuid in payers
            and consumer.business_service == service
            and _tenant_matches(tenant_id, consumer.tenant_id)
            and (not codes or consumer.consumer_code in codes)
        ):
            bill = generate_bill(world, consumer)
            if bill is not None:
                bills.append(bill)
    return copy.deepcopy(bills), bool(bills)


def _tenant_matches(criteria_tenant: str, tenant_id: str) -> bool:
    if "." not in criteria_tenant:
        return tenant_id.startswith(criteria_tenant)  # LIKE 'pb%'
    return tenant_id == criteria_tenant


def search_bills(world: World, criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest-created bill per consumerCode among those matching (docs/digit.md#bills)."""
    with world.lock:
        world.settle()
        matched: dict[tuple[str, str], dict[str, Any]] = {}
        for bill in world.bills:
            if not _tenant_matches(criteria["tenantId"], bill["tenantId"]):
                continue
            if criteria["billId"] and bill["id"] not in criteria["billId"]:
                continue
            if criteria["consumerCode"] and bill["consumerCode"] not in criteria["consumerCode"]:
                continue
            if criteria["service"] and bill["businessService"] != criteria["service"]:
                continue
            if criteria["mobileNumber"] and bill["mobileNumber"] != criteria["mobileNumber"]:
                continue
            if criteria["status"] and bill["status"] not in criteria["status"]:
                continue
            if criteria["billNumber"] and bill["billNumber"] != criteria["billNumber"]:
                continue
            key = (bill["tenantId"], bill["consumerCode"])
            if criteria["retrieveOldest"]:
                if key not in matched and bill["status"] != "CANCELLED":
                    matched[key] = bill
            else:
                matched[key] = bill
        return copy.deepcopy(list(matched.values()))


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_billing", __name__)

    @bp.post("/billing-service/bill/v2/_fetchbill")
    def fetchbill() -> Any:
        body = json_body()
        user = authorized_user(world, body)
        tenant_id = query("tenantId")
        service = query("businessService")
        codes = query_list("consumerCode")
        mobile = query("mobileNumber")
        bean_errors = []
        if tenant_id is None:
            bean_errors.append(("tenantId", "must not be null"))
        if service is None:
            bean_errors.append(("businessService", "must not be null"))
        if mobile is not None and (len(mobile) != 10 or not mobile.isdigit()):
            bean_errors.append(("mobileNumber", 'must match "^[0-9]{10}$"'))
        if bean_errors:
            raise SandboxError.errors(
                {
                    "code": f"{'NotNull' if m.startswith('must not') else 'Pattern'}"
                    f".generateBillCriteria.{f}",
                    "message": m,
                    "description": None,
                    "params": None,
                }
                for f, m in bean_errors
            )
        assert tenant_id is not None and service is not None
        validate_tenant_for_user_type(user, tenant_id)
        if not codes and mobile is None and query("demandId") is None and query("email") is None:
            raise SandboxError.custom(
                "BILL_GEN_MANDATORY_FIELDS_MISSING",
                "Valid search criteria fields missing, please give some valid criteria like "
                "mobileNumber/email OR 'businessService & consumerCode' OR demandId",
            )
        bills, generated = fetch_bills(world, tenant_id, service, codes, mobile)
        info = None if generated else billing_response_info(body, "201 CREATED")
        return json_response({"ResposneInfo": info, "Bill": bills}, 201)

    @bp.post("/billing-service/bill/v2/_search")
    def search() -> Any:
        body = json_body()
        user = authorized_user(world, body)
        tenant_id = query("tenantId")
        if tenant_id is None:
            raise SandboxError.errors(
                [
                    {
                        "code": "NotNull.billSearchCriteria.tenantId",
                        "message": "must not be null",
                        "description": None,
                        "params": None,
                    }
                ]
            )
        validate_tenant_for_user_type(user, tenant_id)
        criteria: dict[str, Any] = {
            "tenantId": tenant_id,
            "billId": query_list("billId"),
            "consumerCode": query_list("consumerCode"),
            "service": query("service"),
            "mobileNumber": query("mobileNumber"),
            "status": [s.upper() for s in query_list("status")],
            "billNumber": query("billNumber"),
            "retrieveOldest": (query("retrieveOldest") or "").lower() == "true",
        }
        if not (
            criteria["billId"]
            or criteria["consumerCode"]
            or criteria["mobileNumber"]
            or query("email")
        ):
            raise SandboxError.custom(
                "EGBS_MANDATORY_FIELDS_ERROR",
                "BillSearchCriteria should contain either billId, consumerCode, mobileNumber "
                "or email",
            )
        if criteria["consumerCode"] and not criteria["service"]:
            raise SandboxError.custom(
                "BILL_SEARCH_CONSUMERCODE_BUSINESSSERVICE",
                "BusinessService code is mandatory when searching by consumerCode",
            )
        bills = search_bills(world, criteria)
        return json_response({"ResposneInfo": billing_response_info(body, "200 OK"), "Bill": bills})

    return bp
