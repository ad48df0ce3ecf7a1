"""Billing's back-update (docs/digit.md#back-update), applied by `World.settle()` after the lag.

Topic `create` (`egov.collection.payment-create`): each head's `collectionAmount` grows by its
`adjustedAmount`; an excess becomes a new (advance) demand detail. Topic `cancel`
(`egov.collection.payment-cancel`, which CANCEL, DISHONOUR and REMIT all publish to): the same
amounts are taken back and the payment's advance detail removed, so the demand is unpaid again.
Either way the consumer's ACTIVE bills become PAID when its latest bill is ACTIVE (billing's
`updateBillStatus`, digest 6.5), so the next `_fetchbill` generates a new bill (new id and number)
for what is due. Each topic is consumed once per payment id: a repeat is
refused with `EGBS_PAYMENT_BACKUPDATE_ERROR` and only audited (`World.backupdate_audit`).
"""

from __future__ import annotations

import uuid
from typing import Any

from integrator.sandbox.world import DemandDetail, World

DUPLICATE_ERROR = "EGBS_PAYMENT_BACKUPDATE_ERROR"


def apply_back_update(world: World, payment: dict[str, Any], topic: str = "create") -> None:
    """Credit (create) or debit (cancel) the demands; every ACTIVE bill of the consumer is PAID
    if its latest bill is ACTIVE."""
    from integrator.sandbox.billing import bills_of, set_status

    key = (topic, payment["id"])
    audit = {
        "paymentId": payment["id"],
        "topic": topic,
        "isReceiptCancellation": topic == "cancel",
        "at": world.now_ms(),
        "error": None,
    }
    world.backupdate_audit.append(audit)
    if key in world.back_updated:  # a repeat delivery: refused, audited, no effect
        audit["error"] = DUPLICATE_ERROR
        world.counters["backupdate_duplicate"] += 1
        return
    world.back_updated.add(key)
    demands = {d.id: d for d in world.demands}
    for detail in payment["paymentDetails"]:
        bill = detail["bill"]
        for bill_detail in bill["billDetails"]:
            demand = demands.get(bill_detail["demandId"])
            if demand is None:
                continue
            by_id = {line.id: line for line in demand.details}
            for account in bill_detail["billAccountDetails"]:
                line = by_id.get(account["demandDetailId"])
                if line is not None:
                    if topic == "create":
                        line.collection_amount += account["adjustedAmount"]
                    else:
                        line.collection_amount -= account["adjustedAmount"]
                elif topic == "create":  # the advance head: a new detail carrying the credit
                    advance = DemandDetail(
                        id=str(uuid.uuid4()),
                        tax_head_code=account["taxHeadCode"],
                        tax_amount=account["amount"],
                    )
                    demand.details.append(advance)
                    world.advance_lines.setdefault(payment["id"], []).append(
                        (demand.id, advance.id)
                    )
        consumer = world.consumer(bill["tenantId"], bill["businessService"], bill["consumerCode"])
        latest = bills_of(world, consumer)[-1:] if consumer is not None else []
        if consumer is not None and latest and latest[0]["status"] == "ACTIVE":
            set_status(world, bills_of(world, consumer, "ACTIVE"), "PAID")
    if topic == "cancel":  # the advance this payment created is taken back too
        for demand_id, line_id in world.advance_lines.pop(payment["id"], []):
            demand = demands.get(demand_id)
            if demand is not None:
                demand.details = [line for line in demand.details if line.id != line_id]
