"""Reconciliation flags as ops see them: one list of everything reconciliation could not
explain, each acknowledged by an operator with a note.

Two sources, one list:
- a flag of the forward check on a REGISTERED payment (reconciliation.py: MISSING, CANCELLED,
  DISHONOURED, NOT_LIVE, DUPLICATE_IN_DIGIT, REMITTED); its id is the payment id;
- a finding of the walk of DIGIT's payments (reverse_reconciliation.py: ORPHAN, DUPLICATE,
  DIFFERS); its id is a number.

Acknowledging says "a person has looked, and this is what they decided" (the note is required);
it does not close anything in DIGIT or the ledger. The alert stays on while any open flag is
unacknowledged. A flag whose reason changes, or a finding that is cleared and then found again,
needs a new acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from integrator.payments.reconciliation_records import StoredFinding, StoredFlag

#: Longest acknowledgement note kept.
MAX_NOTE = 1000


@dataclass(frozen=True, kw_only=True)
class FlagItem:
    """One line of the ops list."""

    id: str
    source: str  # "ledger" (forward check) or "digit" (walk of DIGIT's payments)
    kind: str
    payment_id: str
    digit_payment_id: str | None
    tenant_id: str | None
    business_service: str | None
    digit_status: str | None
    ledger_status: str | None
    amount: Decimal | None
    receipt_numbers: tuple[str, ...]
    bill_ids: tuple[str, ...]
    transaction_date: datetime | None
    why: str
    found_at: datetime
    checked_at: datetime  # the last run that still found it
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    detail: Mapping[str, Any]

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class FlagRefused(Exception):
    """An acknowledgement that cannot be made (unknown flag, no note)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class FlagStore(Protocol):
    """store.findings.FindingStore."""

    def findings(
        self, *, include_cleared: bool = ..., unacknowledged_only: bool = ..., limit: int = ...
    ) -> list[StoredFinding]: ...

    def flags(self, *, unacknowledged_only: bool = ..., limit: int = ...) -> list[StoredFlag]: ...

    def get(self, finding_id: int) -> StoredFinding | None: ...

    def flag(self, payment_id: str) -> StoredFlag | None: ...

    def acknowledge_finding(self, finding_id: int, *, by: str, note: str, at: datetime) -> bool: ...

    def acknowledge_flag(self, payment_id: str, *, by: str, note: str, at: datetime) -> bool: ...

    def unacknowledged(self) -> int: ...


_FINDING_ID_DIGITS = 18


def _from_finding(f: StoredFinding) -> FlagItem:
    return FlagItem(
        id=str(f.id),
        source="digit",
        kind=f.kind,
        payment_id=f.payment_id,
        digit_payment_id=f.digit_payment_id,
        tenant_id=f.tenant_id,
        business_service=f.business_service,
        digit_status=f.digit_status,
        ledger_status=f.ledger_status,
        amount=f.amount,
        receipt_numbers=f.receipt_numbers,
        bill_ids=f.bill_ids,
        transaction_date=f.transaction_date,
        why=str(f.detail.get("why", "")),
        found_at=f.found_at,
        checked_at=f.checked_at,
        acknowledged_at=f.acknowledged_at,
        acknowledged_by=f.acknowledged_by,
        ack_note=f.ack_note,
        detail=f.detail,
    )


def _from_flag(f: StoredFlag) -> FlagItem:
    live = f.detail.get("liveDigitPayments") or []
    return FlagItem(
        id=f.payment_id,
        source="ledger",
        kind=f.reason,
        payment_id=f.payment_id,
        digit_payment_id=f.digit_payment_id,
        tenant_id=None,
        business_service=None,
        digit_status=f.digit_status,
        ledger_status="REGISTERED",
        amount=None,
        receipt_numbers=tuple(r for p in live for r in p.get("receipts", ())),
        bill_ids=tuple(str(b) for b in f.detail.get("billIds", ())),
        transaction_date=None,
        why=f"REGISTERED payment's DIGIT payment: {f.reason}",
        found_at=f.flagged_at,
        checked_at=f.checked_at,
        acknowledged_at=f.acknowledged_at,
        acknowledged_by=f.acknowledged_by,
        ack_note=f.ack_note,
        detail=f.detail,
    )


class Flags:
    """The ops use cases on reconciliation flags (the console and the CLI share them)."""

    def __init__(self, *, store: FlagStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def list(self, *, unacknowledged_only: bool = False, limit: int = 200) -> list[FlagItem]:
        """Open flags and findings, newest first."""
        items = [
            _from_finding(f)
            for f in self._store.findings(unacknowledged_only=unacknowledged_only, limit=limit)
        ] + [
            _from_flag(f)
            for f in self._store.flags(unacknowledged_only=unacknowledged_only, limit=limit)
        ]
        items.sort(key=lambda i: i.found_at, reverse=True)
        return items[:limit]

    def of_payment(self, payment_id: str) -> Sequence[FlagItem]:
        """The open flags and findings naming `payment_id` (its page shows them)."""
        return [i for i in self.list(limit=1000) if i.payment_id == payment_id]

    def get(self, flag_id: str) -> FlagItem:
        flag_id = flag_id.strip()
        # a finding's id is a bigint: ASCII digits only ("²".isdigit() is true, int() refuses
        # it), and few enough of them
        if flag_id.isascii() and flag_id.isdigit() and len(flag_id) <= _FINDING_ID_DIGITS:
            finding = self._store.get(int(flag_id))
            if finding is not None and finding.cleared_at is None:
                return _from_finding(finding)
        else:
            flag = self._store.flag(flag_id)
            if flag is not None:
                return _from_flag(flag)
        raise FlagRefused("FLAG_NOT_FOUND", f"no open reconciliation flag {flag_id!r}")

    def unacknowledged(self) -> int:
        return self._store.unacknowledged()

    def acknowledge(self, flag_id: str, *, operator: str, note: str) -> FlagItem:
        """Record that `operator` looked at the flag, with what they decided (`note`)."""
        note = (note or "").strip()
        if not note:
            raise FlagRefused("NOTE_REQUIRED", "say what was decided or done (a note)")
        if len(note) > MAX_NOTE:
            raise FlagRefused("NOTE_TOO_LONG", f"a note has at most {MAX_NOTE} characters")
        item = self.get(flag_id)
        at = self._clock()
        if item.source == "digit":
            done = self._store.acknowledge_finding(int(item.id), by=operator, note=note, at=at)
        else:
            done = self._store.acknowledge_flag(item.id, by=operator, note=note, at=at)
        if not done:  # cleared between the read and the write
            raise FlagRefused("FLAG_NOT_FOUND", f"no open reconciliation flag {flag_id!r}")
        return self.get(flag_id)
