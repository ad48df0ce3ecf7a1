"""The collector's cash and offline uploads as plain values: what the cash book, the day close
and offline uploads (cash.py, day_close.py, offline.py) decide on and the ledger
(store/cash.py, store/offline.py) keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    DEVICE = "device"
    CITY = "city"


@dataclass(frozen=True, kw_only=True)
class ModeSums:
    """One (city, mode) of one scope over one period."""

    tenant_id: str
    payment_mode: str
    collected: Decimal = Decimal(0)
    collected_count: int = 0
    cancelled: Decimal = Decimal(0)  # every reversal in the period
    cancelled_count: int = 0
    # the part of `cancelled` whose money had been handed over: the cashier's, not the collector's
    cancelled_after_handover: Decimal = Decimal(0)
    cancelled_after_handover_count: int = 0
    settled: Decimal = Decimal(0)  # what the ledger expected at the hand-overs
    handed_over: Decimal = Decimal(0)  # what the cashier counted
    difference: Decimal = Decimal(0)  # handed_over - settled: < 0 shortfall, > 0 excess


@dataclass(frozen=True, kw_only=True)
class Holding:
    """Cash in hand of one city and mode: payments collected, neither handed over nor reversed."""

    tenant_id: str
    payment_mode: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class HeldPayment:
    """One payment whose money the device still holds."""

    payment_id: str
    tenant_id: str
    payment_mode: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class ReversedAfterHandover:
    """A payment reversed after its money was handed over: the cashier gives it back (a refund,
    a cancellation) or the bank takes it back (a dishonoured cheque or DD)."""

    payment_id: str
    tenant_id: str
    payment_mode: str
    amount: Decimal
    reversal: str  # CANCELLED, DISHONOURED or REFUNDED
    reversed_at: datetime
    handover_id: str


@dataclass(frozen=True, kw_only=True)
class HandoverEntry:
    """A hand-over the cash book decided to record, with the payments it settles."""

    tenant_id: str
    payment_mode: str
    expected: Decimal
    counted: Decimal
    reason: str | None
    cashier: str
    at: datetime
    payment_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Handover:
    id: str
    device_id: str
    tenant_id: str
    payment_mode: str
    expected: Decimal
    counted: Decimal
    difference: Decimal
    reason: str | None
    cashier: str
    at: datetime


class DayAlreadyClosed(Exception):
    """The day is closed for this device or city already."""


@dataclass(frozen=True, kw_only=True)
class OfflineMark:
    """How a payment reached us from an offline device."""

    payment_id: str
    request_fingerprint: str
    collected_at: datetime
    uploaded_at: datetime
    quarantined: bool
    detail: Mapping[str, Any]


#: The code an offline payment beyond its device's offline cash limit is quarantined with.
OFFLINE_CASH_LIMIT_EXCEEDED = "OFFLINE_CASH_LIMIT_EXCEEDED"


@dataclass(frozen=True, kw_only=True)
class OfflineArrival:
    """What an offline upload adds to the payment it makes, written in the payment's own
    transaction: the fingerprint of the request as the device sent it (the payment's bills may be
    the successors the upload moved it onto), when the money was taken, and what the upload did
    (`detail`, e.g. `retargeted`)."""

    request_fingerprint: str
    collected_at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class LimitOverrides:
    """A device's own limits; None keeps the setting."""

    offline_max_age_seconds: int | None = None
    offline_cash_limit: Decimal | None = None
    cash_in_hand_cap: Decimal | None = None
