"""What the domain needs from the ledger, DIGIT and the caches, declared here as Protocols.

    PaymentLedger       payments in the ledger (integrator.store.payments.PaymentStore)
    Leases              registration leases with fencing tokens (store.leases.LeaseStore)
    IdempotencyClaims   devices' Idempotency-Keys (store.idempotency.IdempotencyStore)
    BillSnapshots       bills as last served, for checks while DIGIT is down (store.snapshots)
    ServedBillLog       which bills were served when (store.served.ServedBills)
    DigitGateway        DIGIT's operations the use cases call (integrator.digit.client.DigitClient)

The ledger's refusals and results are domain types too, so the use cases catch and read them
without importing the storage layer:

    PaymentStoreError
    ├── PaymentNotFound
    ├── StaleFence                  the attempt's lease expired or was taken over: write nothing
    ├── ConcurrentModification      the payment changed since it was read: reload and decide again
    └── IntegrityRefused            create_sent cleared, targeted billIds shrank, the payment's
        │                           consumers changed, or a claim it would take is held:
        ├── ConsumerHeld            a consumer it would reopen has another open payment
        └── BillHeld                a bill it would make live is paid by another live payment
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from integrator.digit.models import (
    Bill,
    DigitPayment,
    MobileLookup,
    PaymentCreate,
    PaymentRule,
    Role,
)
from integrator.payments.cash_records import OfflineArrival
from integrator.payments.models import ConsumerKey, Payment, PaymentStatus

# --- the ledger's refusals and results ---


class PaymentStoreError(Exception):
    """Base of the payment store's refusals."""


class PaymentNotFound(PaymentStoreError):
    pass


class StaleFence(PaymentStoreError):
    """The write's fencing token no longer holds the payment's lease."""


class ConcurrentModification(PaymentStoreError):
    """The stored version differs from the one the caller read."""


class IntegrityRefused(PaymentStoreError):
    """A save would forget that a create was sent, drop a targeted billId, change the payment's
    consumers, or put a bill under a second live payment."""


class ConsumerHeld(IntegrityRefused):
    """A save back to PENDING would reopen a consumer that another open payment (`holder`, None
    when it could not be read) holds: the one-open-payment-per-consumer index refused it."""

    def __init__(self, message: str, *, holder: str | None) -> None:
        super().__init__(message)
        self.holder = holder


class BillHeld(IntegrityRefused):
    """A save would make a bill live that another live payment (`holder`) pays."""

    def __init__(self, message: str, *, bill_id: str | None, holder: str | None) -> None:
        super().__init__(message)
        self.bill_id = bill_id
        self.holder = holder


class CreateOutcome(StrEnum):
    CREATED = "CREATED"
    REPLAY = "REPLAY"  # the idempotency key already made a payment for the same request
    MISMATCH = "MISMATCH"  # the idempotency key was used for a different request
    CONFLICT = "CONFLICT"  # a consumer already has an open payment (409 PAYMENT_IN_PROGRESS)
    BILL_TAKEN = "BILL_TAKEN"  # a bill is already paid by another live payment of ours


@dataclass(frozen=True, kw_only=True)
class CreateResult:
    outcome: CreateOutcome
    payment_id: str | None  # CREATED: ours; REPLAY: the earlier one; CONFLICT/BILL_TAKEN: holder
    conflict: ConsumerKey | None = None  # CONFLICT: the consumer that is claimed
    bill_id: str | None = None  # BILL_TAKEN: the bill
    fence: int | None = None  # CREATED with `lease_seconds`: the lease's fencing token


@dataclass(frozen=True, kw_only=True)
class PaymentPage:
    payments: tuple[Payment, ...]
    next_cursor: str | None  # pass back to `list_recent` for the next (older) page


class ClaimOutcome(StrEnum):
    NEW = "NEW"  # ours: validate and create (or release on a validation failure)
    REPLAY = "REPLAY"  # same key, same request, payment exists: answer with that payment
    IN_FLIGHT = "IN_FLIGHT"  # same key, same request, first still running: 409, retry later
    MISMATCH = "MISMATCH"  # same key, different request: 422 IDEMPOTENCY_KEY_REUSED


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    outcome: ClaimOutcome
    payment_id: str | None = None  # REPLAY (and MISMATCH when the key already made a payment)
    token: str | None = None  # NEW: pass to `release`


# --- the ports ---


class LeaseAfterSave(StrEnum):
    """What a save under a registration lease (a fence) does with the lease, in the same
    statement: one commit instead of two."""

    KEEP = "KEEP"
    RENEW = "RENEW"  # the lease runs for its whole TTL again, from the save's commit
    RELEASE = "RELEASE"  # the attempt is over: another may start at once


class PaymentLedger(Protocol):
    def create(
        self,
        payment: Payment,
        *,
        lease_seconds: float | None = None,
        offline: OfflineArrival | None = None,
    ) -> CreateResult:
        """Accept `payment` (one transaction); with `lease_seconds`, the new row is born leased
        to the caller (CreateResult.fence) so its first attempt needs no write of its own; with
        `offline`, its offline mark is written in the same transaction."""
        ...

    def save(
        self,
        payment: Payment,
        *,
        fence: int | None,
        lease: LeaseAfterSave = LeaseAfterSave.KEEP,
        lease_ttl_seconds: float = 0.0,
    ) -> Payment: ...

    def get(self, payment_id: str) -> Payment | None: ...

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]: ...

    def get_by_idempotency(self, device_id: str, key: str) -> Payment | None: ...

    def pending_for_consumers(
        self, consumers: Sequence[tuple[str, str, str]]
    ) -> list[str | None]: ...

    def live_payment_for_bills(self, bill_ids: Sequence[str]) -> dict[str, str]: ...

    def ids_by_status(
        self, status: PaymentStatus, *, offset: int = 0, limit: int = 100
    ) -> list[str]: ...

    def ids_created_between(
        self, start: datetime, end: datetime, *, offset: int = 0, limit: int = 100
    ) -> list[str]: ...

    def count_by_status(self) -> dict[PaymentStatus, int]: ...

    def list_recent(self, cursor: str | None = None, limit: int = 50) -> PaymentPage: ...

    def ids_for_bill(self, bill_id: str) -> list[str]: ...

    def ids_for_consumer(self, consumer_code: str) -> list[str]: ...

    def ids_for_receipt(self, receipt_number: str) -> list[str]: ...

    def ids_for_mobile_last4(self, last4: str) -> list[str]: ...

    def ids_for_idempotency_key(self, key: str) -> list[str]: ...


class Leases(Protocol):
    def acquire(self, payment_id: str, *, ttl_seconds: float) -> int | None: ...

    def acquire_pending(
        self, payment_id: str, *, ttl_seconds: float
    ) -> tuple[int, Payment] | None: ...

    def release(self, payment_id: str, token: int) -> bool: ...

    def renew(self, payment_id: str, token: int, *, ttl_seconds: float) -> bool: ...

    def current(self, payment_id: str) -> int | None: ...


class IdempotencyClaims(Protocol):
    def claim(
        self, device_id: str, key: str, fingerprint: str, *, now: datetime
    ) -> ClaimResult: ...

    def release(self, device_id: str, key: str, token: str | None = None) -> bool: ...

    def bound(self, device_id: str, key: str, fingerprint: str) -> ClaimResult | None: ...


@dataclass(frozen=True)
class ServedBill:
    """A bill as served to a device, and the newer bill of its consumer served since (if any:
    then this one is superseded, as far as we know)."""

    bill: Bill
    superseded_by: str | None = None


class BillSnapshots(Protocol):
    def get(self, bill_id: str, *, max_age: timedelta, now: datetime) -> Bill | None: ...

    def served(
        self, bill_ids: Sequence[str], *, max_age: timedelta, now: datetime
    ) -> dict[str, ServedBill]: ...


@dataclass(frozen=True)
class OpenMarks:
    """How many payments of ours may hold `consumer` open, or reversals of them wait for DIGIT to
    re-open its dues, as read with the request's admission (one Redis round trip for both);
    `count` None: the marks are not complete, ask the ledger."""

    consumer: ConsumerKey
    count: int | None


class ServedBillLog(Protocol):
    def record(
        self, bills: Sequence[Bill], served_at: datetime, known: OpenMarks | None = None
    ) -> list[bool]:
        """Snapshot `bills` as served; for each, whether its consumer may have an open payment
        of ours (False only when the ledger certainly holds none for it). `known` saves reading
        the marks again for bills of that consumer."""
        ...


class DigitGateway(Protocol):
    def roles(self) -> tuple[Role, ...]: ...

    def reload_roles(self) -> tuple[Role, ...]: ...

    def may_create(self, tenant_id: str) -> bool: ...

    def may_search(self, module: str, tenant_id: str) -> bool | None: ...

    def ensure_token(self) -> None: ...

    def payment_rules(self, tenant_id: str | None = None) -> dict[str, PaymentRule]: ...

    def fetch_bills(
        self,
        *,
        tenant_id: str,
        business_service: str,
        consumer_code: str,
        deadline: float | None = None,
    ) -> list[Bill]: ...

    def search_bills(
        self,
        *,
        tenant_id: str,
        bill_ids: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
        business_service: str | None = None,
        mobile_number: str | None = None,
        deadline: float | None = None,
    ) -> list[Bill]: ...

    def mobile_lookup(
        self,
        *,
        tenant_id: str,
        mobile_number: str,
        business_service: str | None = None,
        max_in_flight: int | None = None,
        deadline: float | None = None,
    ) -> MobileLookup: ...

    def create_payment(self, payment: PaymentCreate) -> DigitPayment: ...

    def search_payments(
        self,
        *,
        tenant_id: str,
        module: str,
        bill_ids: Sequence[str] = (),
        receipt_numbers: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
        transaction_number: str | None = None,
        mobile_number: str | None = None,
        deadline: float | None = None,
    ) -> list[DigitPayment]: ...


@dataclass(frozen=True, kw_only=True)
class ReceiptFacts:
    """What DIGIT holds about one receipt that the ledger does not."""

    receipt_number: str
    payment_status: str | None
    instrument_status: str | None
    transaction_number: str | None
    payer_name: str | None
    bill: Bill | None
