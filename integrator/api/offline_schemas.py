"""What the offline and cash views of the PoS API answer (`integrator.api.offline`).

    limits_view(device, limits, batch_max, wire)   GET /v1/devices/me/limits
    cash_view(device, limits, by_mode, holdings, wire)   GET /v1/devices/me/cash
    conflict_view(conflict, wire)                  a quarantined batch item's `conflict`

As in `schemas.responses`, every amount goes through `wire` (one scale: OFFLINE_CASH_LIMIT=20000.00
is written 20000, as every other answer writes its amounts).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from integrator.api.errors import pointer
from integrator.api.wire import Wire
from integrator.payments.cash import DeviceLimits, Holding
from integrator.payments.devices import Device

#: The amounts of a quarantined item's `conflict`: its own, and those of each bill in `bills`.
_CONFLICT_AMOUNTS = frozenset({"offlineCashLimit"})
_CHANGED_BILL_AMOUNTS = frozenset({"amount", "servedTotal", "currentTotal"})


def limits_view(device: Device, limits: DeviceLimits, batch_max: int, wire: Wire) -> dict[str, Any]:
    return {
        "deviceId": device.id,
        "offlineMaxAgeSeconds": limits.offline_max_age_seconds,
        "offlineCashLimit": wire.amount(limits.offline_cash_limit),
        "cashInHandCap": wire.amount(limits.cash_in_hand_cap),
        "batchMax": batch_max,
    }


def cash_view(
    device: Device,
    limits: DeviceLimits,
    by_mode: Mapping[str, Decimal],
    holdings: list[Holding],
    wire: Wire,
) -> dict[str, Any]:
    return {
        "deviceId": device.id,
        "cashInHandCap": wire.amount(limits.cash_in_hand_cap),
        "byMode": [
            {"paymentMode": mode, "amount": wire.amount(amount)}
            for mode, amount in sorted(by_mode.items())
        ],
        "byCity": [
            {
                "tenantId": h.tenant_id,
                "paymentMode": h.payment_mode,
                "amount": wire.amount(h.amount),
            }
            for h in holdings
        ],
    }


def conflict_view(conflict: Mapping[str, Any], wire: Wire) -> dict[str, Any]:
    """What changed, as the ledger keeps it, with its violations' fields as pointers (the domain
    names them `bills[0].amount`) and its amounts on the wire's scale."""
    view = _amounts(conflict, _CONFLICT_AMOUNTS, wire)
    violations = view.get("violations")
    if isinstance(violations, list):
        view["violations"] = [
            {**v, "field": pointer(v.get("field"))} if isinstance(v, Mapping) else v
            for v in violations
        ]
    bills = view.get("bills")
    if isinstance(bills, list):
        view["bills"] = [
            _amounts(b, _CHANGED_BILL_AMOUNTS, wire) if isinstance(b, Mapping) else b for b in bills
        ]
    return view


def _amounts(values: Mapping[str, Any], keys: frozenset[str], wire: Wire) -> dict[str, Any]:
    return {
        k: wire.amount(v) if k in keys and isinstance(v, Decimal) else v for k, v in values.items()
    }
