"""Billing's back-update after a payment (digest 6), applied by `World.settle()` after the lag."""

from __future__ import annotations

import uuid
from typing import Any

from integrator.sandbox.world import DemandDetail, World


def apply_back_update(world: World, payment: dict[str, Any]) -> None:
    """Credit adjusted amounts to demands; every ACTIVE bill of the consumer becomes PAID."""
    from integrator.sandbox.billing import bills_of, set_status

    if payment["id"] in world.back_updated:  # EGBS_PAYMENT_BACKUPDATE_ERROR: a duplicate delivery
        return
    world.back_updated.add(payment["id"])
    for detail in payment["paymentDetails"]:
        bill = detail["bill"]
        demands = {d.id: d for d in world.demands}
        for bill_detail in bill["billDetails"]:
            demand = demands.get(bill_detail["demandId"])
            if demand is None:
                continue
            by_id = {line.id: line for line in demand.details}
            for account in bill_detail["billAccountDetails"]:
                line = by_id.get(account["demandDetailId"])
                if line is not None:
                    line.collection_amount += account["adjustedAmount"]
                else:  # the advance head: a new demand detail carrying the credit forward
                    demand.details.append(
                        DemandDetail(
                            id=str(uuid.uuid4()),
                            tax_head_code=account["taxHeadCode"],
                            tax_amount=account["amount"],
                        )
                    )
        consumer = world.consumer(bill["tenantId"], bill["businessService"], bill["consumerCode"])
        if consumer is not None:
            set_status(world, bills_of(world, consumer, "ACTIVE"), "PAID")
