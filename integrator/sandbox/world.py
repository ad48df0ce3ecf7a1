"""The sandbox's whole state: one in-memory model behind one lock.

Everything a request can see or change lives on `World`: users and tokens, demands, bills,
payments, sequences, the settable clock, faults and call counters. Handlers take `world.lock`
for the whole of their read-modify-write; the lock is re-entrant so helpers can take it again.

The billing back-update (docs/digit.md#back-update) is evaluated lazily against the sandbox
clock: a committed payment (topic `create`) or a cancelled / dishonoured / remitted one (topic
`cancel`) is queued with a due time (publish + lag) and applied by `settle()`, which every locked
operation calls first. That keeps the lag deterministic under a moved clock.

Held creates (the "hold creates" fault, docs/digit.md#late-commits) are the one thing that runs
outside the lock: a validated `payments/_create` waits in `held`, and a timer commits or drops it
later.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

KOLKATA = ZoneInfo("Asia/Kolkata")
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_HOLD_SECONDS = 30.0
DEFAULT_GATEWAY_TIMEOUT_SECONDS = 10.0  # zuul.host.socket-timeout-millis (Spring Cloud default)
FAULT_SEED = 20240611
ACCESS_TOKEN_SECONDS = 10080 * 60  # access.token.validity.in.minutes (7 d)
REFRESH_TOKEN_SECONDS = 20160 * 60  # refresh.token.validity.in.minutes (14 d)
UNLOCK_COOL_DOWN_MINUTES = 60  # account.unlock.cool.down.period.minutes
MDMS_SEMANTICS = ("v1", "v2")


def citizen_uuid(mobile: str) -> str:
    """The uuid of the state-level citizen egov-user holds (or collection creates) for a mobile."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-citizen:{mobile}"))


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How the sandbox was started (command-line options)."""

    token_ttl_seconds: int = ACCESS_TOKEN_SECONDS  # access tokens only; refresh is 14 d
    refresh_token_ttl_seconds: int = REFRESH_TOKEN_SECONDS
    #: how long an expired refresh token stays in the token store before it is gone (0: Redis
    #: drops it at expiry); a refresh in between gets 401 invalid_token, after it 400 invalid_grant
    refresh_token_linger_seconds: float = 0.0
    unlock_cool_down_minutes: float = UNLOCK_COOL_DOWN_MINUTES
    backupdate_lag_seconds: float = 2.0
    bill_expiry_days: int = 15
    extra_consumers: int = 0  # chaos runs: deterministic consumers beyond SEED (seed.extra_seed)
    mdms_semantics: str = "v1"  # "v1": isStateLevel masters from the state; "v2": the city wins
    search_ignore_status: tuple[str, ...] = ()  # collection's search.ignore.status (default empty)
    #: the API gateway: "zuul" (a denial is 403; a request naming no tenant is checked against
    #: the caller's own), or "scg" (both are 401 "You are not authorized...": corrections 3)
    gateway: str = "zuul"


@dataclass(frozen=True)
class Role:
    """One role of a user at one tenant (egov-user's `{name, code, tenantId}`)."""

    code: str
    tenant_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.code.replace("_", " ").title(),
            "code": self.code,
            "tenantId": self.tenant_id,
        }


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
    roles: tuple[Role, ...]
    failed_logins: list[int] = field(default_factory=list)
    account_locked: bool = False
    locked_at_ms: int | None = None

    @property
    def role_codes(self) -> set[str]:
        return {role.code for role in self.roles}

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
            "roles": [role.as_json() for role in self.roles],
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
    user_request: dict[str, Any]  # the login's UserRequest, as stored at first issue


@dataclass(kw_only=True)
class RefreshToken:
    """A refresh token and the access token it last issued (revoked by the next refresh)."""

    value: str
    user: User
    key: tuple[str, str, str, str]
    scope: str
    tenant_id: str
    expires_at_ms: int  # fixed at creation: a refresh never extends it
    access_token: str
    #: the user as it was when this token pair was first issued: a login returning the same
    #: token, and a refresh, answer with it (the stored authentication), not the live record
    user_request: dict[str, Any]


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
    payer_uuid: str | None = None  # the demand's payer (a state-level citizen); None: no payer

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
    hold_creates: int = 0  # how many coming creates are validated, then held (Corrections 10)
    hold_seconds: float = DEFAULT_HOLD_SECONDS  # how long a held create waits before it commits
    hold_phase: str = "before_insert"  # or "after_insert": the held row blocks the bill id
    gateway_timeout_seconds: float = DEFAULT_GATEWAY_TIMEOUT_SECONDS
    # `_workflow` applied, then no answer (its synchronous pdf-service call has no timeout,
    # digest 13): a client must search the payment's status before sending again
    workflow_timeout_after_commit: int = 0
    # `_workflow` validated, held (the pdf-service call), the gateway's timeout answered after
    # `gateway_timeout_seconds`, applied after `hold_seconds` anyway: a late commit
    hold_workflows: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "timeout_after_commit": self.timeout_after_commit,
            "hang_seconds": self.hang_seconds,
            "unknown_400_after_commit": self.unknown_400_after_commit,
            "down": self.down,
            "hold_creates": self.hold_creates,
            "hold_seconds": self.hold_seconds,
            "hold_phase": self.hold_phase,
            "gateway_timeout_seconds": self.gateway_timeout_seconds,
            "workflow_timeout_after_commit": self.workflow_timeout_after_commit,
            "hold_workflows": self.hold_workflows,
        }


@dataclass(kw_only=True)
class PendingBackUpdate:
    due_at_ms: int
    payment: dict[str, Any]
    topic: str = "create"  # egov.collection.payment-create, or "cancel": ...payment-cancel


@dataclass(kw_only=True)
class HeldCreate:
    """A validated `_create` waiting to commit (the hold-creates fault)."""

    bill_ids: frozenset[str]
    phase: str
    done: threading.Event = field(default_factory=threading.Event)
    outcome: dict[str, Any] | None = None  # the committed payment, once committed
    error: Exception | None = None  # the PAYMENT_CREATION_FAILED it was dropped with


class World:
    """All mutable sandbox state. Build with `World(config)`; `reset()` restores the seed."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.hang_release = threading.Event()
        self._clock_offset_ms = 0
        self.backupdate_lag_seconds = config.backupdate_lag_seconds
        self.users: dict[tuple[str, str, str], User] = {}  # (userName, TYPE, tenantId)
        self.consumers: list[Consumer] = []
        self.demands: list[Demand] = []
        self.bills: list[dict[str, Any]] = []  # billing's egbs_bill_v1, JSON-ready
        self.payments: list[dict[str, Any]] = []  # collection's egcl_payment, JSON-ready
        self.tokens: dict[str, AccessToken] = {}
        self.token_by_key: dict[tuple[str, str, str, str], str] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.unlock_cool_down_minutes = config.unlock_cool_down_minutes
        self.refresh_token_linger_seconds = config.refresh_token_linger_seconds
        self.mdms_semantics = config.mdms_semantics
        #: cities whose MDMS data is absent (v1: Invalid_tenantId; v2: the state's rows) and
        #: cities' own BusinessService files set by code (admin `/mdms`); empty: the seed's
        self.mdms_without_data: set[str] = set()
        self.mdms_city_services: dict[str, tuple[str, ...]] = {}
        self.citizens: dict[str, User] = {}  # egov-user's state-level citizens, by uuid
        self.pending: list[PendingBackUpdate] = []
        self.back_updated: set[tuple[str, str]] = set()  # (topic, payment id) billing applied
        self.backupdate_audit: list[dict[str, Any]] = []  # egbs_payment_backupdate_audit
        self.advance_lines: dict[str, list[tuple[str, str]]] = {}  # payment id: (demand, line)
        self.held: list[HeldCreate] = []
        self.generation = 0  # bumped by reset(): a held create of an older world never commits
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
            self.unlock_cool_down_minutes = self.config.unlock_cool_down_minutes
            self.refresh_token_linger_seconds = self.config.refresh_token_linger_seconds
            self.mdms_semantics = self.config.mdms_semantics
            self.mdms_without_data = set()
            self.mdms_city_services = {}
            self.generation += 1
            for held in self.held:
                held.done.set()
            self.held.clear()
            self.citizens.clear()
            self.backupdate_audit.clear()
            self.advance_lines.clear()
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
    def find_user(self, user_name: str, user_type: str, tenant_id: str) -> User | None:
        """egov-user's `getUniqueUser`: username + type + tenant (Corrections 4)."""
        return self.users.get((user_name, user_type.upper(), tenant_id))

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

    # --- the asynchronous billing back-update (docs/digit.md#back-update) ---
    def queue_back_update(self, payment: dict[str, Any], topic: str = "create") -> None:
        """Publish the payment to billing (topic `create` or `cancel`), applied after the lag."""
        with self.lock:
            due = self.now_ms() + int(self.backupdate_lag_seconds * 1000)
            self.pending.append(
                PendingBackUpdate(due_at_ms=due, payment=copy.deepcopy(payment), topic=topic)
            )

    def settle(self) -> None:
        """Apply every back-update whose lag has passed on the sandbox clock."""
        from integrator.sandbox.backupdate import apply_back_update

        with self.lock:
            now = self.now_ms()
            due = [p for p in self.pending if p.due_at_ms <= now]
            self.pending = [p for p in self.pending if p.due_at_ms > now]
            for item in sorted(due, key=lambda p: p.due_at_ms):
                apply_back_update(self, item.payment, item.topic)
