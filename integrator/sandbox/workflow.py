"""collection's `payments/{module}/_workflow`: CANCEL, DISHONOUR, REMIT (docs/digit.md#cancel).

`validate_workflow` then `apply_workflow` follow `PaymentWorkflowService.performWorkflow` and
`PaymentWorkflowValidator.validateForCancel`; every error is a 400 and nothing is applied if any
check fails:
1. bean validation (`PaymentWorkflows` not empty; `paymentId`, `action`, `tenantId` not null,
   where an action other than upper-case CANCEL/DISHONOUR/REMIT reads as null);
2. one action (`PAYMENT_WORKFLOW_SINGLE_ACTION_ALLOWED`) and one tenant
   (`CROSS_TENANT_OP_NOT_ALLOWED`);
3. candidates: the tenant's payments for the requested payments' consumer codes that the action
   may touch, newest first, at most 30; a paymentId outside them is
   `RECEIPT_WORKFLOW_INVALID_RECEIPT` (ONLINE/CARD payments are REMITTED from birth, so they are
   never cancellable);
4. CANCEL and DISHONOUR only for the newest candidate of each of its consumer codes (newer ones in
   the same request count as removed), else `RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE`.

Effects: the statuses; each bill CANCELLED (CANCEL also `isCancelled`), `reasonForCancellation`
only in this response (the UPDATE omits it); `additionalDetails` merged into each bill's. Every
action is published on the cancel topic, so billing re-opens the dues after the back-update lag,
REMIT included (`backupdate.apply_back_update`).
"""

from __future__ import annotations

import copy
from typing import Any

from integrator.sandbox.errors import SandboxError, error_entry
from integrator.sandbox.http import pick
from integrator.sandbox.world import User, World

ACTIONS = ("CANCEL", "DISHONOUR", "REMIT")
MAX_CANDIDATES = 30  # collection.receipts.search.default.size: the search has no explicit limit
PREFIX = "paymentWorkflowRequest.paymentWorkflows"

# action -> (payment modes or None for any, instrument statuses, newest only, new statuses)
RULES: dict[str, tuple[frozenset[str] | None, frozenset[str], bool, tuple[str, str]]] = {
    "CANCEL": (None, frozenset({"APPROVED"}), True, ("CANCELLED", "CANCELLED")),
    "DISHONOUR": (
        frozenset({"CHEQUE", "DD"}),
        frozenset({"APPROVED", "REMITTED"}),
        True,
        ("DISHONOURED", "DISHONOURED"),
    ),
    "REMIT": (
        frozenset({"CASH", "CHEQUE", "DD"}),
        frozenset({"APPROVED"}),
        False,
        ("DEPOSITED", "REMITTED"),
    ),
}


def _parse(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Bean validation of PaymentWorkflowRequest; the items as plain dicts."""
    items = pick(body, "PaymentWorkflows")
    if not isinstance(items, list) or not items:
        raise SandboxError.errors(
            [error_entry(f"Size.{PREFIX}", "size must be between 1 and 2147483647")]
        )
    errors: list[dict[str, Any]] = []
    parsed: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        action = pick(item, "action")
        entry = {
            "paymentId": pick(item, "paymentId"),
            "action": action if action in ACTIONS else None,
            "tenantId": pick(item, "tenantId"),
            "reason": pick(item, "reason"),
            "additionalDetails": pick(item, "additionalDetails"),
        }
        for name in ("paymentId", "action", "tenantId"):
            if entry[name] is None:
                errors.append(error_entry(f"NotNull.{PREFIX}[{index}].{name}", "must not be null"))
        parsed.append(entry)
    if errors:
        raise SandboxError.errors(errors)
    return parsed


def _consumer_codes(payment: dict[str, Any]) -> set[str]:
    return {d["bill"]["consumerCode"] for d in payment["paymentDetails"]}


def _candidates(world: World, tenant: str, action: str, codes: set[str]) -> list[dict[str, Any]]:
    modes, statuses, _, _ = RULES[action]
    found = [
        (index, p)
        for index, p in enumerate(world.payments)
        if p["tenantId"] == tenant
        and _consumer_codes(p) & codes
        and p["instrumentStatus"] in statuses
        and (modes is None or p["paymentMode"] in modes)
    ]
    found.sort(key=lambda pair: (pair[1]["transactionDate"], pair[0]), reverse=True)
    return [p for _, p in found[:MAX_CANDIDATES]]


def _check_newest(payment: dict[str, Any], candidates: list[dict[str, Any]], ids: set[str]) -> None:
    for code in _consumer_codes(payment):
        for candidate in candidates:
            if code not in _consumer_codes(candidate):
                continue
            if candidate["id"] == payment["id"]:
                break
            if candidate["id"] in ids:  # cancelled in the same request: counts as removed
                continue
            raise SandboxError.custom(
                "RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE",
                "Can only cancel / dishonour latest receipt for a consumer code. Dishonour of "
                "receipt possible only after deposited! ",
            )


#: A validated call: each item with the payment it acts on (applied now, or later when held).
Validated = list[tuple[dict[str, Any], dict[str, Any]]]


def validate_workflow(world: World, body: dict[str, Any]) -> Validated:
    """Rules 1-4 of digest 13, checked before anything is applied (SandboxError if one fails)."""
    items = _parse(body)
    if len({item["action"] for item in items}) > 1:
        raise SandboxError.custom(
            "PAYMENT_WORKFLOW_SINGLE_ACTION_ALLOWED",
            "All workflow requests should be of the same action",
        )
    if len({item["tenantId"] for item in items}) > 1:
        raise SandboxError.custom(
            "CROSS_TENANT_OP_NOT_ALLOWED", "All requests should act on a single tenant "
        )
    action, tenant = str(items[0]["action"]), str(items[0]["tenantId"])
    ids = {str(item["paymentId"]) for item in items}
    with world.lock:
        world.settle()
        requested = [p for p in world.payments if p["id"] in ids and p["tenantId"] == tenant]
        codes = set().union(*(_consumer_codes(p) for p in requested)) if requested else set()
        candidates = _candidates(world, tenant, action, codes)
        by_id = {p["id"]: p for p in candidates}
        for item in items:
            if str(item["paymentId"]) not in by_id:
                raise SandboxError.custom(
                    "RECEIPT_WORKFLOW_INVALID_RECEIPT",
                    "Payment not found in the system or not in editable state, "
                    f"{item['paymentId']}",
                )
        if RULES[action][2]:
            for item in items:
                _check_newest(by_id[str(item["paymentId"])], candidates, ids)
        return [(by_id[str(item["paymentId"])], item) for item in items]


def apply_workflow(world: World, validated: Validated, user: User) -> list[dict[str, Any]]:
    """The updates of a validated call (the caller holds `world.lock`). Nothing is validated
    again: a held call applied late updates a payment a later call already updated, and its
    cancel-topic message is a repeat billing refuses (EGBS_PAYMENT_BACKUPDATE_ERROR)."""
    return [_apply(world, payment, item, user) for payment, item in validated]


def _apply(
    world: World, payment: dict[str, Any], item: dict[str, Any], user: User
) -> dict[str, Any]:
    action = str(item["action"])
    payment_status, instrument_status = RULES[action][3]
    now = world.now_ms()
    payment["paymentStatus"] = payment_status
    payment["instrumentStatus"] = instrument_status
    payment["auditDetails"] = {
        **payment["auditDetails"],
        "lastModifiedBy": user.uuid,
        "lastModifiedTime": now,
    }
    extra = item["additionalDetails"]
    for detail in payment["paymentDetails"]:
        bill = detail["bill"]
        if action != "REMIT":
            bill["status"] = "CANCELLED"
        if action == "CANCEL":
            bill["isCancelled"] = True
        if isinstance(extra, dict):
            merged = dict(bill.get("additionalDetails") or {})
            merged.update(extra)
            bill["additionalDetails"] = merged
    world.queue_back_update(payment, topic="cancel")  # REMIT and DISHONOUR too (l.218, l.267)
    world.counters[f"workflow_{action.lower()}"] += 1
    answer = copy.deepcopy(payment)
    if action != "REMIT":
        for detail in answer["paymentDetails"]:  # not persisted: only in this response
            detail["bill"]["reasonForCancellation"] = item["reason"]
    return answer
