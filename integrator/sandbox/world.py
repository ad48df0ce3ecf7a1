"""The sandbox's whole state: one in-memory model behind one lock.

Everything a request can see or change lives on `World`: users and tokens, demands, bills,
payments, sequences, the settable clock, faults and call counters. Handlers take `world.lock`
for the whole of their read-modify-write; the lock is re-entrant so helpers can take it again.

The billing back-update (digest 6) is evaluated lazily against the sandbox clock: a committed
payment is queued with a due time (commit + lag) and applied by `settle()`, which every locked
operation calls first. That keeps the lag deterministic under a moved clock.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

KOLKATA = ZoneInfo("Asia/Kolkata")
DEFAULT_HANG_SECONDS = 30.0
FAULT_SEED = 20240611


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How the sandbox was started (command-line options)."""

    token_ttl_seconds: int = 604800
    backupdate_lag_seconds: float = 2.0
    bill_expiry_days: int = 15
    extra_consumers: int = 0  # chaos runs: deterministic consumers beyond SEED (seed.extra_seed)


@dataclass(kw_only=True)
class User:
    """An egov-user account the sandbox can log in."""

    id: int
    uuid: str
    user_name: str
    password: str
    name: str
    mobile_number: str
    type: str
    tenant_id: str
    roles: tuple[str, ...]
    failed_logins: list[int] = field(default_factory=list)
    locked_until_ms: int | None = None

    def user_info(self) -> dict[str, Any]:
        """`RequestInfo.userInfo` as the gateway injects it."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "userName": self.user_name,
            "name": self.name,
            "type": self.type,
            "mobileNumber": self.mobile_number,
            "emailId": None,
            "roles": [
                {"name": role.title(), "code": role, "tenantId": self.tenant_id}
                for role in self.roles
            ],
            "tenantId": self.tenant_id,
        }


@dataclass(kw_only=True)
class AccessToken:
    value: str
    refresh_token: str
    user: User
    key: tuple[str, str, str, str]  # username, client, scope, tenantId (the token-store key)
    scope: str
    tenant_id: str
    expires_at_ms: int
    refresh_expires_at_ms: int


@dataclass(kw_only=True)
class DemandDetail:
    id: str
    tax_head_code: str
    tax_amount: Decimal
    collection_amount: Decimal = Decimal(0)

    @property
    def due(self) -> Decimal:
        return self.tax_amount - self.collection_amount


@dataclass(kw_only=True)
class Demand:
    """One tax period of one consumer (egbs_demand_v1 + its details)."""

    id: str
    tenant_id: str
    business_service: str
    consumer_code: str
    from_period_ms: int
    to_period_ms: int
    details: list[DemandDetail]
    fixed_expiry_ms: int | None = None
    status: str = "ACTIVE"

    @property
    def due(self) -> Decimal:
        return sum((d.due for d in self.details), Decimal(0))

    @property
    def payment_completed(self) -> bool:
        return all(d.due == 0 for d in self.details)


@dataclass(frozen=True, kw_only=True)
class Consumer:
    """A connection / property / licence: who pays, where, for what."""

    tenant_id: str
    business_service: str
    consumer_code: str
    payer_name: str
    mobile_number: str
    payer_address: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.business_service, self.consumer_code)


@dataclass(kw_only=True)
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_after_commit: int = 0
    hang_seconds: float = DEFAULT_HANG_SECONDS
    unknown_400_after_commit: int = 0
    down: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "timeout_after_commit": self.timeout_after_commit,
            "hang_seconds": self.hang_seconds,
            "unknown_400_after_commit": self.unknown_400_after_commit,
            "down": self.down,
        }


@dataclass(kw_only=True)
class PendingBackUpdate:
    due_at_ms: int
    payment: dict[str, Any]


class World:
    """All mutable sandbox state. Build with `World(config)`; `reset()` restores the seed."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.hang_release = threading.Event()
        self._clock_offset_ms = 0
        self.backupdate_lag_seconds = config.backupdate_lag_seconds
        self.users: dict[tuple[str, str], User] = {}
        self.consumers: list[Consumer] = []
        self.demands: list[Demand] = []
        self.bills: list[dict[str, Any]] = []  # billing's egbs_bill_v1, JSON-ready
        self.payments: list[dict[str, Any]] = []  # collection's egcl_payment, JSON-ready
        self.tokens: dict[str, AccessToken] = {}
        self.token_by_key: dict[tuple[str, str, str, str], str] = {}
        self.refresh_tokens: dict[str, AccessToken] = {}
        self.pending: list[PendingBackUpdate] = []
        self.back_updated: set[str] = set()  # payment ids already applied by billing
        self.sequences: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.faults = Faults()
        self.rng = random.Random(FAULT_SEED)
        self.reset()

    # --- lifecycle ---
    def reset(self) -> None:
        """Seed data, no faults, counters zero, real clock; releases any hanging response."""
        from integrator.sandbox.seed import seed_world

        with self.lock:
            self.hang_release.set()
            self.hang_release = threading.Event()
            self._clock_offset_ms = 0
            self.backupdate_lag_seconds = self.config.backupdate_lag_seconds
            self.users.clear()
            self.consumers.clear()
            self.demands.clear()
            self.bills.clear()
            self.payments.clear()
            self.tokens.clear()
            self.token_by_key.clear()
            self.refresh_tokens.clear()
            self.pending.clear()
            self.back_updated.clear()
            self.sequences.clear()
            self.counters.clear()
            self.faults = Faults()
            self.rng = random.Random(FAULT_SEED)
            seed_world(self)

    # --- clock ---
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._clock_offset_ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=KOLKATA)

    def set_clock(self, now_ms: int) -> None:
        with self.lock:
            self._clock_offset_ms = now_ms - int(time.time() * 1000)

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self._clock_offset_ms += int(seconds * 1000)

    # --- ids ---
    def next_seq(self, name: str, start: int = 1000) -> int:
        with self.lock:
            if name not in self.sequences:
                self.sequences[name] = start
            self.sequences[name] += 1
            return self.sequences[name]

    # --- lookups ---
    def find_user(self, user_name: str, user_type: str) -> User | None:
        return self.users.get((user_name, user_type.upper()))

    def consumer(self, tenant_id: str, business_service: str, code: str) -> Consumer | None:
        for consumer in self.consumers:
            if consumer.key == (tenant_id, business_service, code):
                return consumer
        return None

    def demands_of(self, tenant_id: str, business_service: str, code: str) -> list[Demand]:
        return [
            d
            for d in self.demands
            if (d.tenant_id, d.business_service, d.consumer_code)
            == (tenant_id, business_service, code)
            and d.status == "ACTIVE"
        ]

    # --- the asynchronous billing back-update (digest 6) ---
    def queue_back_update(self, payment: dict[str, Any]) -> None:
        with self.lock:
            due = self.now_ms() + int(self.backupdate_lag_seconds * 1000)
            self.pending.append(PendingBackUpdate(due_at_ms=due, payment=payment))

    def settle(self) -> None:
        """Apply every back-update whose lag has passed on the sandbox clock."""
        from integrator.sandbox.backupdate import apply_back_update

        with self.lock:
            now = self.now_ms()
            due = [p for p in self.pending if p.due_at_ms <= now]
            self.pending = [p for p in self.pending if p.due_at_ms > now]
            for item in sorted(due, key=lambda p: p.due_at_ms):
                apply_back_update(self, item.payment)
