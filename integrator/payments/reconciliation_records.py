"""What reconciliation records, as plain values: the walk's findings and the flags the ledger
holds. Shared by the domain (flags.py, reverse_reconciliation.py) and the store that keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

#: The kinds of reconciliation run, as the saved summaries' `run` names them (and /metrics' `run`
#: label): the forward check of the ledger's REGISTERED payments, and the walk of DIGIT's payments.
FORWARD_RUN = "forward"
DIGIT_WALK_RUN = "digit-walk"
RUN_KINDS: tuple[str, ...] = (FORWARD_RUN, DIGIT_WALK_RUN)


class FindingKind(StrEnum):
    ORPHAN = "ORPHAN"
    DUPLICATE = "DUPLICATE"
    DIFFERS = "DIFFERS"


@dataclass(frozen=True, kw_only=True)
class Scope:
    """One city and module whose DIGIT payments are walked."""

    tenant_id: str
    module: str

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.module}"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A DIGIT payment the ledger does not explain."""

    kind: FindingKind
    digit_payment_id: str
    payment_id: str  # the id of ours it carries
    tenant_id: str
    business_service: str
    digit_status: str | None
    amount: Decimal
    receipt_numbers: tuple[str, ...]
    bill_ids: tuple[str, ...]
    transaction_date: datetime | None
    ledger_status: str | None  # None: the ledger has no payment with that id
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StoredFinding:
    """A finding of the walk, as the ledger holds it."""

    id: int
    kind: str
    digit_payment_id: str
    payment_id: str
    tenant_id: str
    business_service: str
    digit_status: str | None
    amount: Decimal
    receipt_numbers: tuple[str, ...]
    bill_ids: tuple[str, ...]
    transaction_date: datetime | None
    ledger_status: str | None
    detail: Mapping[str, Any]
    found_at: datetime
    checked_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None


@dataclass(frozen=True, kw_only=True)
class StoredFlag:
    """A forward-check flag on a REGISTERED payment, as the ledger holds it."""

    payment_id: str
    reason: str
    digit_payment_id: str | None
    digit_status: str | None
    flagged_at: datetime
    checked_at: datetime
    detail: Mapping[str, Any]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
