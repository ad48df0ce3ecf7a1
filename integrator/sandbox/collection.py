"""collection-services: `payments/_create` and `payments/{module}/_search` (docs/digit.md#create).

`create_or_hold` follows `PaymentService.createPayment`: bean validation, pre-validation (bill
lookup, MDMS BusinessService read with the payment's city tenant), the `PaymentValidator` error
map, enrichment (receipt numbers, CASH transaction number, statuses, apportioning), then the
insert, which `UNIQUE(billId)` guards: a bill id that already has a payment row (even a cancelled
one: cancelled bill ids are dead forever) fails with 400 `PAYMENT_CREATION_FAILED` naming
`uk_egcl_paymentdetail` (Corrections 10, section 5.6). The commit queues the billing back-update.

The hold-creates fault: a validated create waits `hold_seconds` (a timer thread), then commits
unless its bill id got a payment row meanwhile (then it is dropped as PAYMENT_CREATION_FAILED).
With `hold_phase: after_insert` the held row already holds the bill id: a concurrent create for it
passes validation, waits for the held one, and fails PAYMENT_CREATION_FAILED if that committed.

Search (5.5, Corrections 11): newest transactionDate first, `limit` 30 by default and at most 100,
`offset`; `search.ignore.status` (empty by default, so CANCELLED payments are returned);
`fromDate`/`toDate` (epoch ms) on transactionDate, `toDate` widened by one day as DIGIT does.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integrator.sandbox import mdms
from integrator.sandbox.errors import SandboxError, error_entry
from integrator.sandbox.http import pick
from integrator.sandbox.world import HeldCreate, User, World

PAYMENT_MODES = (
    "CASH",
    "CHEQUE",
    "DD",
    "ONLINE",
    "CARD",
    "OFFLINE_NEFT",
    "OFFLINE_RTGS",
    "ONLINE_NEFT",
    "ONLINE_RTGS",
    "POSTAL_ORDER",
)
ONLINE_MODES = {"ONLINE", "CARD", "ONLINE_NEFT", "ONLINE_RTGS"}
INSTRUMENT_MODES = {"CHEQUE", "DD", "OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"}
LIVE_INSTRUMENT_STATUSES = {"APPROVED", "APPROVAL_PENDING", "REMITTED"}
PAYMENT_STATUSES = ("NEW", "DEPOSITED", "CANCELLED", "DISHONOURED", "RECONCILED")
NINETY_DAYS_MS = 90 * 24 * 3600 * 1000

# DIGIT's paidBy/payerName pattern is ^[a-zA-Z]+(([_\-'`\. ][a-zA-Z ])?[a-zA-Z]*)*$ ; this one
# accepts exactly the same strings without the nested quantifiers' catastrophic backtracking.
NAME_PATTERN = re.compile(r"^[a-zA-Z]+(?:[_\-'`. ][a-zA-Z ]|[a-zA-Z])*$")
NAME_MESSAGE = "Invalid name. Only alphabets and special characters -, ',`, ., _"
MOBILE_PATTERN = re.compile(r"^[6-9][0-9]{9}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}$")  # simplified


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SandboxError.unhandled(
            "org.springframework.http.converter.HttpMessageNotReadableException"
        ) from None


def _epoch_ms(value: Any) -> int | None:
    number = _decimal(value)
    return None if number is None else int(number)


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _bean_validate(payment: Any) -> list[dict[str, Any]]:
    """Bean validation of PaymentRequest; codes are `<Constraint>.paymentRequest.payment.<path>`."""
    prefix = "paymentRequest.payment"
    errors: list[dict[str, Any]] = []

    def add(constraint: str, path: str, message: str) -> None:
        errors.append(error_entry(f"{constraint}.{prefix}.{path}", message))

    if not isinstance(payment, dict):
        return [error_entry("NotNull.paymentRequest.payment", "must not be null")]
    tenant = _text(pick(payment, "tenantId"))
    if tenant is None:
        add("NotNull", "tenantId", "must not be null")
    elif len(tenant) > 64:
        add("Size", "tenantId", "size must be between 0 and 64")
    if pick(payment, "totalAmountPaid") is None:
        add("NotNull", "totalAmountPaid", "must not be null")
    mode = _text(pick(payment, "paymentMode"))
    if mode is None or mode.upper() not in PAYMENT_MODES:
        add("NotNull", "paymentMode", "must not be null")
    paid_by = _text(pick(payment, "paidBy"))
    if paid_by is None:
        add("NotNull", "paidBy", "must not be null")
    elif not NAME_PATTERN.match(paid_by):
        add("Pattern", "paidBy", NAME_MESSAGE)
    payer_name = _text(pick(payment, "payerName"))
    if payer_name is not None and not NAME_PATTERN.match(payer_name):
        add("Pattern", "payerName", NAME_MESSAGE)
    mobile = _text(pick(payment, "mobileNumber"))
    if mobile is not None and not MOBILE_PATTERN.match(mobile):
        add("Pattern", "mobileNumber", "Invalid mobile number")
    email = _text(pick(payment, "payerEmail"))
    if email is not None and not EMAIL_PATTERN.match(email):
        add("Pattern", "payerEmail", "Invalid emailId")
    for name, limit in (("transactionNumber", 128), ("instrumentNumber", 128)):
        value = _text(pick(payment, name))
        if value is not None and len(value) > limit:
            add("Size", name, f"size must be between 0 and {limit}")
    address = _text(pick(payment, "payerAddress"))
    if address is not None and len(address) > 1024:
        add("Size", "payerAddress", "size must be between 0 and 1024")
    details = pick(payment, "paymentDetails")
    for index, detail in enumerate(details if isinstance(details, list) else []):
        bill_id = _text(pick(detail, "billId"))
        if bill_id is None:
            add("NotNull", f"paymentDetails[{index}].billId", "must not be null")
        elif len(bill_id) > 64:
            add("Size", f"paymentDetails[{index}].billId", "size must be between 0 and 64")
        if pick(detail, "totalAmountPaid") is None:
            add("NotNull", f"paymentDetails[{index}].totalAmountPaid", "must not be null")
    return errors


def _find_bills(world: World, tenant_id: str, bill_ids: list[str]) -> dict[str, dict[str, Any]]:
    """billing's `_search?tenantId&billId=a,b`: any status, latest per consumer code."""
    found: dict[str, dict[str, Any]] = {}
    for bill in world.bills:
        if bill["id"] in bill_ids and (
            bill["tenantId"] == tenant_id
            or ("." not in tenant_id and bill["tenantId"].startswith(tenant_id))
        ):
            found[bill["id"]] = bill
    return found


def _validate(
    world: World, payment: dict[str, Any], mode: str, bills: dict[str, dict[str, Any]]
) -> None:
    """PaymentValidator.validatePaymentForCreate: one error map keyed by code
    (docs/digit.md#codes)."""
    errors: dict[str, str] = {}
    now = world.now_ms()
    instrument_date = _epoch_ms(pick(payment, "instrumentDate"))
    transaction_date = _epoch_ms(pick(payment, "transactionDate"))
    instrument_number = _text(pick(payment, "instrumentNumber"))
    transaction_number = _text(pick(payment, "transactionNumber"))
    if mode in INSTRUMENT_MODES:
        if instrument_date is None:
            errors["INVALID_INST_DATE"] = "Instrument Date Input is mandatory for cheque and DD"
        if not instrument_number:
            errors["INVALID_INST_NUMBER"] = "Instrument Number is mandatory for Cheque, DD, Card"
    if mode in {"CHEQUE", "DD"} and instrument_date is not None:
        if transaction_date is not None:
            if instrument_date > transaction_date:
                errors["INVALID_CHEQUE_DD_DATE"] = (
                    "Cheque/DD date should not be greater than Manual Receipt Date"
                )
            elif transaction_date - instrument_date > NINETY_DAYS_MS:
                errors["CHEQUE_DD_DATE_WITH_MANUAL_RECEIPT_DATE"] = (
                    "Cheque/DD date should be less than and within 90 days of Manual Receipt Date"
                )
        elif now - instrument_date > NINETY_DAYS_MS:
            errors["CHEQUE_DD_DATE_WITH_RECEIPT_DATE"] = (
                "Cheque/DD date should be less than and within 90 days of Current Date"
            )
        elif instrument_date > now:
            errors["CHEQUE_DD_DATE_WITH_FUTURE_DATE"] = "Cheque/DD date can not be future Date"
    if (
        mode in {"OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"}
        and instrument_date is not None
        and instrument_date > now
    ):
        errors["INVALID_NEFT_RTGS_DATE"] = (
            "NEFT/RTGS date should not be greater than Manual Receipt Date"
        )
    if mode in ONLINE_MODES:
        if not transaction_number:
            errors["INVALID_TXN_NUMBER"] = (
                "Transaction Number is mandatory for Card and online payment"
            )
        if not instrument_number:
            errors["INVALID_INSTRUMENT_NUMBER"] = "Instrument Number is mandatory for Card"
    bill_ids = set(bills)
    for earlier in world.payments:
        if earlier["instrumentStatus"] in LIVE_INSTRUMENT_STATUSES and any(
            d["billId"] in bill_ids for d in earlier["paymentDetails"]
        ):
            errors["BILL_ALREADY_PAID"] = "Bill has already been paid or is in pending state"
            break
    for detail in payment["paymentDetails"]:
        bill = bills[str(pick(detail, "billId"))]
        bill_id = bill["id"]
        rule = bill["_rule"]
        total: Decimal = bill["totalAmount"]
        paid = _decimal(pick(detail, "totalAmountPaid")) or Decimal(0)
        advance_allowed = bool(rule.get("isAdvanceAllowed"))
        if not _text(pick(detail, "businessService")):
            errors["INVALID_BUSINESS_DETAILS"] = "Business details code cannot be empty"
        if not advance_allowed and (total < 0 or not _is_whole(total)):
            errors["INVALID_BILL_AMOUNT"] = (
                f"The bill amount of bill: {bill_id} is fractional or less than zero"
            )
        if not rule.get("partPaymentAllowed") and paid < total:
            errors["INVALID_PAYMENTDETAIL"] = "The amount to be paid is less than amount due"
        if not advance_allowed and paid > total:
            errors["INVALID_PAYMENTDETAIL"] = "The amount to be paid is more than amount due"
        if mode in (rule.get("collectionModesNotAllowed") or []):
            errors["INVALID_PAYMENTDETAIL"] = (
                f"The paymentMode: {mode} is not allowed for the bill: {bill_id}"
            )
        if paid < 0 or not _is_whole(paid) or (paid == 0 and total > 0):
            errors["INVALID_PAYMENTDETAIL"] = (
                f"The amount paid for the paymentDetail with bill number: {bill_id}"
            )
        if not _is_whole(total):
            errors["INVALID_BILL"] = "The due amount cannot be fractional"
        if not _is_whole(paid):
            errors["INVALID_PAYMENTDETAIL"] = "The amount paid cannot be fractional"
        if any(d["expiryDate"] is None or d["expiryDate"] <= now for d in bill["billDetails"]):
            errors["BILL_EXPIRED"] = "Bill expired or invalid, regenerate bill!"
    if errors:
        raise SandboxError.errors(error_entry(code, message) for code, message in errors.items())


def apportion(bill: dict[str, Any], paid: Decimal) -> None:
    """Spread `paid` over the bill's lines into adjustedAmount: oldest period, lowest order first.

    Credits (negative lines: rebates, round-off down, earlier advance) are taken in full first;
    any excess becomes the `<SVC>_ADVANCE_CARRYFORWARD` line with amount -excess.
    """
    details = sorted(bill["billDetails"], key=lambda d: d["fromPeriod"] or 0)
    lines = [a for d in details for a in sorted(d["billAccountDetails"], key=lambda a: a["order"])]
    remaining = paid
    for line in lines:
        if line["amount"] < 0:
            line["adjustedAmount"] = line["amount"]
            remaining -= line["amount"]
    for line in lines:
        if line["amount"] >= 0:
            adjusted = min(line["amount"], max(remaining, Decimal(0)))
            line["adjustedAmount"] = adjusted
            remaining -= adjusted
    latest = details[-1]["id"] if details else None
    for detail in details:
        purpose = "CURRENT" if detail["id"] == latest else "ARREAR"
        for line in detail["billAccountDetails"]:
            line["isActualDemand"] = True
            line["purpose"] = purpose
    if remaining > 0 and details:
        last = details[-1]
        last["billAccountDetails"].append(
            {
                "id": str(uuid.uuid4()),
                "tenantId": last["tenantId"],
                "billDetailId": last["id"],
                "demandDetailId": "advance_tax",
                "order": -1,
                "amount": -remaining,
                "adjustedAmount": -remaining,
                "isActualDemand": False,
                "taxHeadCode": mdms.advance_head(bill["businessService"]),
                "additionalDetails": None,
                "purpose": "ADVANCE",
                "auditDetails": None,
            }
        )


def _collection_bill(
    bill: dict[str, Any], paid: Decimal, paid_by: str | None, payer_id: str | None
) -> dict[str, Any]:
    """collection's copy of the bill (docs/digit.md#receipts), with the MDMS flags."""
    rule = bill["_rule"]
    out = copy.deepcopy({k: v for k, v in bill.items() if k != "_rule"})
    out.update(
        {
            "paidBy": paid_by,
            "payerId": payer_id,
            "reasonForCancellation": None,
            "isCancelled": False,
            "collectionModesNotAllowed": list(rule.get("collectionModesNotAllowed") or []),
            "partPaymentAllowed": bool(rule.get("partPaymentAllowed")),
            "isAdvanceAllowed": bool(rule.get("isAdvanceAllowed")),
            "minimumAmountToBePaid": None,
            "amountPaid": paid,
        }
    )
    for detail in out["billDetails"]:
        detail.update(
            {
                "amountPaid": None,
                "collectionType": None,
                "channel": None,
                "voucherHeader": None,
                "boundary": None,
                "manualReceiptNumber": None,
                "manualReceiptDate": None,
                "billDescription": None,
                "displayMessage": None,
                "callBackForApportioning": False,
                "cancellationRemarks": None,
            }
        )
    apportion(out, paid)
    return out


def financial_year(moment: datetime) -> str:
    start = moment.year if moment.month >= 4 else moment.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def receipt_number(world: World) -> str:
    """idgen `receipt.id`: `[cy:MM]/[fy:yyyy-yy]/[SEQ_COLL_RCPT_NUM]`."""
    now = world.now()
    return f"{now.month:02d}/{financial_year(now)}/{world.next_seq('receipt', start=100):06d}"


def cash_transaction_number(world: World, tenant_id: str) -> str:
    """idgen `collection.transactionno`: `{city}[d{10}]`, e.g. amritsar2101641377."""
    city = tenant_id.split(".")[-1]
    return f"{city}{world.rng.randrange(10**9, 10**10)}"


def _parse_create(body: dict[str, Any]) -> tuple[dict[str, Any], str, list[str]]:
    """Bean validation and DUPLICATE_BILLID: the Payment, its mode and its bill ids."""
    payment = pick(body, "Payment")
    bean_errors = _bean_validate(payment)
    if bean_errors:
        raise SandboxError.errors(bean_errors)
    assert isinstance(payment, dict)
    details = pick(payment, "paymentDetails")
    if not isinstance(details, list) or not details:
        raise SandboxError.custom(
            "INVALID_BILL_ID", "Bill IDs provided does not exist or is in an invalid state"
        )
    payment = dict(payment)
    payment["paymentDetails"] = [dict(d) for d in details]
    bill_ids = [str(pick(d, "billId")) for d in payment["paymentDetails"]]
    if len(set(bill_ids)) != len(bill_ids):
        raise SandboxError.custom(
            "DUPLICATE_BILLID", "The Bill ids have been repeated for multiple payment details"
        )
    return payment, str(pick(payment, "paymentMode")).upper(), bill_ids


def _pre_validate(world: World, tenant_id: str, bill_ids: list[str]) -> dict[str, dict[str, Any]]:
    """`enrichPaymentPreValidate`: MDMS with the payment's tenant, then billing's bill search."""
    bills = _find_bills(world, tenant_id, bill_ids)
    if not bills:
        raise SandboxError.custom(
            "INVALID_BILL_ID", "Bill IDs provided does not exist or is in an invalid state"
        )
    if len(bills) != len(bill_ids):  # collection dereferences the missing bill
        raise SandboxError.unhandled("NullPointerException")
    enriched: dict[str, dict[str, Any]] = {}
    for bill_id, bill in bills.items():
        if not bill["billDetails"]:
            raise SandboxError.custom(
                "INVALID_BILL_ID",
                "Bill IDs provided does not exist or is in an invalid state: " + bill["id"],
            )
        rule = mdms.business_service_for(world, tenant_id, bill["businessService"])
        if rule is None:
            raise SandboxError.custom(
                "INVALID_BILL_BUSINESSSERVICE",
                f"The business service is not valid for the bill: {bill['id']}",
            )
        enriched[bill_id] = {**bill, "_rule": rule}
    return enriched


def creation_failed(bill_id: str) -> SandboxError:
    """`PaymentRepository.savePayment`: the DB error of the UNIQUE(billId) insert as message."""
    return SandboxError.custom(
        "PAYMENT_CREATION_FAILED",
        "Batch entry 0 INSERT INTO egcl_paymentdetail was aborted: ERROR: duplicate key value "
        'violates unique constraint "uk_egcl_paymentdetail"  Detail: Key (billid)=('
        f"{bill_id}) already exists.",
    )


def _check_unique_bill_ids(world: World, bill_ids: list[str]) -> None:
    paid = {d["billId"] for p in world.payments for d in p["paymentDetails"]}
    for bill_id in bill_ids:
        if bill_id in paid:
            raise creation_failed(bill_id)


def _blocking_hold(world: World, bill_ids: list[str]) -> HeldCreate | None:
    """A held create whose inserted (uncommitted) row holds one of these bill ids."""
    for held in world.held:
        if held.phase == "after_insert" and held.bill_ids & set(bill_ids):
            return held
    return None


def create_payment(world: World, body: dict[str, Any], user: User) -> dict[str, Any]:
    """Validate and commit one Payment now; returns the stored Payment (a copy)."""
    result = create_or_hold(world, body, user, may_hold=False)
    assert isinstance(result, dict)
    return result


def create_or_hold(
    world: World, body: dict[str, Any], user: User, *, may_hold: bool = True
) -> dict[str, Any] | HeldCreate:
    """A committed Payment (a copy), or the HeldCreate the hold-creates fault made of it."""
    payment, mode, bill_ids = _parse_create(body)
    tenant_id = str(pick(payment, "tenantId"))
    with world.lock:
        world.settle()
        bills = _pre_validate(world, tenant_id, bill_ids)
        _validate(world, payment, mode, bills)
        blocker = _blocking_hold(world, bill_ids)
        if blocker is None:
            _check_unique_bill_ids(world, bill_ids)
            if may_hold and world.faults.hold_creates > 0:
                world.faults.hold_creates -= 1
                return _hold(world, payment, mode, bills, user)
            return commit_payment(world, payment, mode, bills, user)
        wait_seconds = world.faults.hold_seconds + 60
    blocker.done.wait(wait_seconds)  # the insert waits on the held row's lock
    with world.lock:
        _check_unique_bill_ids(world, bill_ids)
        return commit_payment(world, payment, mode, bills, user)


def _hold(
    world: World,
    payment: dict[str, Any],
    mode: str,
    bills: dict[str, dict[str, Any]],
    user: User,
) -> HeldCreate:
    held = HeldCreate(bill_ids=frozenset(bills), phase=world.faults.hold_phase)
    world.held.append(held)
    world.counters["create_held"] += 1
    timer = threading.Timer(
        world.faults.hold_seconds,
        _finish_hold,
        args=(world, held, world.generation, payment, mode, bills, user),
    )
    timer.daemon = True
    timer.start()
    return held


def _finish_hold(
    world: World,
    held: HeldCreate,
    generation: int,
    payment: dict[str, Any],
    mode: str,
    bills: dict[str, dict[str, Any]],
    user: User,
) -> None:
    """The late commit: it happens although the client was long told of a timeout."""
    with world.lock:
        try:
            if world.generation != generation:  # the world was reset meanwhile
                return
            world.held.remove(held)
            world.settle()
            try:
                _check_unique_bill_ids(world, list(bills))
            except SandboxError as error:
                held.error = error
                world.counters["late_commit_dropped"] += 1
                return
            held.outcome = commit_payment(world, payment, mode, bills, user)
            world.counters["late_commit"] += 1
        finally:
            held.done.set()


def commit_payment(
    world: World,
    payment: dict[str, Any],
    mode: str,
    bills: dict[str, dict[str, Any]],
    user: User,
) -> dict[str, Any]:
    """Enrichment after validation (docs/digit.md#create), the save and the back-update queue."""
    now = world.now_ms()
    tenant_id = str(pick(payment, "tenantId"))
    payment_id = str(uuid.uuid4())
    audit = {
        "createdBy": user.uuid,
        "lastModifiedBy": user.uuid,
        "createdTime": now,
        "lastModifiedTime": now,
    }
    paid_by = _text(pick(payment, "paidBy"))
    mobile = _text(pick(payment, "mobileNumber"))
    payer_id = (
        user.uuid
        if user.type == "CITIZEN"
        else (str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-citizen:{mobile}")) if mobile else None)
    )
    online = mode in ONLINE_MODES
    transaction_number = _text(pick(payment, "transactionNumber"))
    if mode == "CASH":
        transaction_number = cash_transaction_number(world, tenant_id)
    instrument_date = _epoch_ms(pick(payment, "instrumentDate"))
    if mode == "CASH" or online:
        instrument_date = now
    details_out: list[dict[str, Any]] = []
    for detail in payment["paymentDetails"]:
        bill = bills[str(pick(detail, "billId"))]
        paid = _decimal(pick(detail, "totalAmountPaid")) or Decimal(0)
        details_out.append(
            {
                "id": str(uuid.uuid4()),
                "tenantId": tenant_id,
                "totalDue": bill["totalAmount"],
                "totalAmountPaid": paid,
                "receiptNumber": receipt_number(world),
                "manualReceiptNumber": _text(pick(detail, "manualReceiptNumber")),
                "manualReceiptDate": _epoch_ms(pick(detail, "manualReceiptDate")),
                "receiptDate": now,
                "receiptType": "BILLBASED",
                "businessService": bill["businessService"],
                "billId": bill["id"],
                "bill": _collection_bill(bill, paid, paid_by, payer_id),
                "additionalDetails": pick(detail, "additionalDetails"),
                "auditDetails": dict(audit),
            }
        )
    stored = {
        "id": payment_id,
        "tenantId": tenant_id,
        "totalDue": sum((b["totalAmount"] for b in bills.values()), Decimal(0)),
        "totalAmountPaid": _decimal(pick(payment, "totalAmountPaid")),
        "transactionNumber": transaction_number,
        "transactionDate": now,
        "paymentMode": mode,
        "instrumentDate": instrument_date,
        "instrumentNumber": _text(pick(payment, "instrumentNumber")),
        "instrumentStatus": "REMITTED" if online else "APPROVED",
        "ifscCode": _text(pick(payment, "ifscCode")),
        "auditDetails": audit,
        "additionalDetails": pick(payment, "additionalDetails"),
        "paymentDetails": details_out,
        "paidBy": paid_by,
        "mobileNumber": mobile,
        "payerName": _text(pick(payment, "payerName")),
        "payerAddress": _text(pick(payment, "payerAddress")),
        "payerEmail": _text(pick(payment, "payerEmail")),
        "payerId": payer_id,
        "paymentStatus": "DEPOSITED" if online else "NEW",
        "fileStoreId": None,
    }
    world.payments.append(stored)
    world.queue_back_update(stored)
    return copy.deepcopy(stored)


#: What collection-services adds to a search's `toDate` (digest 5.5).
DAY_MS = 86_400_000


def search_payments(world: World, module: str | None, criteria: dict[str, Any]) -> list[Any]:
    """Payments matching every given criterion, newest transactionDate first
    (docs/digit.md#search)."""
    with world.lock:
        world.settle()
        services = set(criteria["businessServices"]) | ({module} if module else set())
        tenant = criteria["tenantId"]
        ignored = set(world.config.search_ignore_status)
        if ignored and not criteria["status"] and not criteria["receiptNumbers"]:
            criteria = {**criteria, "status": [s for s in PAYMENT_STATUSES if s not in ignored]}
        result = []
        for payment in world.payments:
            details = payment["paymentDetails"]
            if tenant and not (
                payment["tenantId"] == tenant
                or ("." not in tenant and payment["tenantId"].startswith(tenant))
            ):
                continue
            checks = (
                (criteria["ids"], {payment["id"]}),
                (criteria["billIds"], {d["billId"] for d in details}),
                (criteria["receiptNumbers"], {d["receiptNumber"] for d in details}),
                (criteria["consumerCodes"], {d["bill"]["consumerCode"] for d in details}),
                (services, {d["businessService"] for d in details}),
                (criteria["status"], {payment["paymentStatus"]}),
                (criteria["instrumentStatus"], {payment["instrumentStatus"]}),
                (criteria["paymentModes"], {payment["paymentMode"]}),
            )
            if any(wanted and not set(wanted) & have for wanted, have in checks):
                continue
            if criteria["transactionNumber"] and (
                payment["transactionNumber"] != criteria["transactionNumber"]
            ):
                continue
            if criteria["mobileNumber"] and payment["mobileNumber"] != criteria["mobileNumber"]:
                continue
            from_date = criteria.get("fromDate", -1)
            to_date = criteria.get("toDate", -1)
            if from_date >= 0 and payment["transactionDate"] < from_date:
                continue
            # PaymentQueryBuilder adds a calendar day to toDate before `transactionDate <= ?`
            if to_date >= 0 and payment["transactionDate"] > to_date + DAY_MS:
                continue
            result.append(payment)
        result.sort(key=lambda p: p["transactionDate"], reverse=True)
        offset = max(criteria["offset"], 0)
        limit = min(criteria["limit"], 100) if criteria["limit"] > 0 else 30
        return copy.deepcopy(result[offset : offset + limit])
