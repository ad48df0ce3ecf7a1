"""The per-process object graph views and jobs share, kept in `app.extensions["integrator"]`.

`create_app` builds one `Services`; the web views and the worker's jobs reach it with
`current_services()`. Collaborators that talk to DIGIT or hold threads are built on first use, so
start-up never waits for DIGIT and a process builds each of them once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import redis as redis_lib
from flask import Flask, current_app

from integrator.observability.events import Observer
from integrator.payments.flags import Flags
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.findings import FindingStore
from integrator.store.idempotency import IdempotencyStore
from integrator.store.leases import LeaseStore
from integrator.store.open_claims import OpenClaimMarks
from integrator.store.payments import PaymentStore
from integrator.store.ratelimit import RateLimiter
from integrator.store.reconciliation import ReconciliationStore
from integrator.store.redis_batcher import RedisBatcher
from integrator.store.served import ServedBills
from integrator.store.snapshots import SnapshotStore
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.targets import TargetPolicy

if TYPE_CHECKING:
    from integrator.digit.client import DigitClient
    from integrator.observability.queues import QueueInspector
    from integrator.payments.cancellation import Cancellations
    from integrator.payments.cash import CashBook
    from integrator.payments.day_close import DayClose
    from integrator.payments.offline import OfflineUploads
    from integrator.payments.receipt_service import ReceiptService
    from integrator.payments.registration import Registrar
    from integrator.payments.service import PaymentService, RegistrationScheduler
    from integrator.store.cash import CashStore
    from integrator.store.offline import OfflineStore
    from integrator.store.receipts import ReceiptPrintStore
    from integrator.store.upload_locks import UploadLocks

EXTENSION_KEY = "integrator"
T = TypeVar("T")

#: How long an idempotency claim without a payment blocks its key (a crashed request's claim).
IDEMPOTENCY_CLAIM_SECONDS = 60


def connect_database(settings: Settings, *, pool_size: int | None = None) -> Database:
    """The process's ledger pool; refuses to start on a schema this code was not written for."""
    from integrator.store.schema_version import check_current

    check_current(settings.database_url)
    return Database.connect(
        settings.database_url, max_size=pool_size or settings.database_pool_size
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Services:
    """Settings, the ledger, Redis, the stores, the DIGIT client and the payment use cases of one
    process."""

    settings: Settings
    db: Database
    redis: redis_lib.Redis
    digit_factory: Callable[[], DigitClient]
    scheduler_factory: Callable[[], RegistrationScheduler] | None = None
    clock: Callable[[], datetime] = utc_now
    #: Told of DIGIT calls, token renewals and payment moves (metrics, webhooks); counts nothing
    #: unless `build` made one.
    observer: Observer = field(default_factory=Observer)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        redis: redis_lib.Redis | None = None,
        pool_size: int | None = None,
    ) -> Services:
        """The one object graph, as the web app, the worker and the CLI use it.

        Connects to the ledger (refusing a schema that is behind) and to Redis unless they are
        given; DIGIT's client and the RQ scheduler are built on first use. The process's
        observer counts its events in /metrics and asks for webhook deliveries.
        """
        from integrator.store import redis_conn

        db = db if db is not None else connect_database(settings, pool_size=pool_size)
        redis = redis if redis is not None else redis_conn.connect(settings)
        connection = redis
        # one per process: the metrics recorder and the stores send through the same batches
        batcher = RedisBatcher(redis)
        observer = build_observer(db, redis, settings, batcher=batcher)

        def build_digit_client() -> DigitClient:
            from integrator.digit.client import DigitClient

            return DigitClient(settings=settings, redis=connection, observer=observer)

        def build_scheduler() -> RegistrationScheduler:
            from integrator.jobs.scheduling import RqRegistrationScheduler

            return RqRegistrationScheduler(connection, settings, batcher=batcher)

        built = cls(
            settings=settings,
            db=db,
            redis=redis,
            digit_factory=build_digit_client,
            scheduler_factory=build_scheduler,
            observer=observer,
        )
        built._built["redis_batcher"] = batcher
        return built

    def close(self) -> None:
        """Close the ledger pools and the Redis connections (CLI commands, tests)."""
        self.db.close()
        locks = self._built.get("upload_locks_db")
        if locks is not None:
            locks.close()
        self.redis.close()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        if name not in self._built:
            with self._lock:
                if name not in self._built:
                    self._built[name] = build()
        value: T = self._built[name]
        return value

    # --- DIGIT ---
    @property
    def digit(self) -> DigitClient:
        """The DIGIT client, built on first use so start-up never waits for DIGIT."""
        return self._once("digit", self.digit_factory)

    @property
    def digit_built(self) -> bool:
        return "digit" in self._built

    def use_digit(self, client: DigitClient) -> None:
        """Replace the DIGIT client (tests use this for fakes)."""
        with self._lock:
            self._built["digit"] = client

    # --- stores ---
    @property
    def payments_store(self) -> PaymentStore:
        return self._once(
            "payments_store", lambda: PaymentStore(self.db, claim_marks=self.open_claim_marks)
        )

    @property
    def open_claim_marks(self) -> OpenClaimMarks:
        return self._once(
            "open_claim_marks", lambda: OpenClaimMarks(self.redis, batcher=self.redis_batcher)
        )

    @property
    def leases(self) -> LeaseStore:
        return self._once("leases", lambda: LeaseStore(self.db))

    @property
    def devices(self) -> DeviceStore:
        return self._once(
            "devices",
            lambda: DeviceStore(self.db, self.redis, clock=self.clock, batcher=self.redis_batcher),
        )

    @property
    def redis_batcher(self) -> RedisBatcher:
        """Redis calls of concurrent requests in one round trip: admission, Idempotency-Key
        claims, open-payment marks, served-bill reads, metrics."""
        return self._once("redis_batcher", lambda: RedisBatcher(self.redis))

    @property
    def webhooks(self) -> WebhookStore:
        targets = TargetPolicy(allow_private=self.settings.webhook_allow_private_targets)
        return self._once(
            "webhooks", lambda: WebhookStore(self.db, clock=self.clock, targets=targets)
        )

    @property
    def reconciliation(self) -> ReconciliationStore:
        return self._once("reconciliation", lambda: ReconciliationStore(self.db))

    @property
    def flags(self) -> Flags:
        """Reconciliation flags and findings as ops see and acknowledge them."""
        return self._once("flags", lambda: Flags(store=FindingStore(self.db), clock=self.clock))

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._once("rate_limiter", lambda: RateLimiter(self.redis))

    @property
    def snapshots(self) -> SnapshotStore:
        return self._once(
            "snapshots",
            lambda: SnapshotStore(
                self.redis,
                retention_seconds=self.settings.snapshot_max_age_seconds,
                batcher=self.redis_batcher,
            ),
        )

    @property
    def idempotency(self) -> IdempotencyStore:
        return self._once(
            "idempotency",
            lambda: IdempotencyStore(
                self.db,
                self.redis,
                in_flight_bound_seconds=IDEMPOTENCY_CLAIM_SECONDS,
                batcher=self.redis_batcher,
            ),
        )

    @property
    def queues(self) -> QueueInspector:
        """What the ops views and /metrics read of the job queues (RQ's workers and counts)."""
        from integrator.jobs.inspection import RqQueueInspector

        return self._once("queues", lambda: RqQueueInspector(self.redis))

    # --- the payment domain ---
    @property
    def registrar(self) -> Registrar:
        from integrator.payments.registration import Registrar

        return self._once(
            "registrar",
            lambda: Registrar(
                payments=self.payments_store,
                leases=self.leases,
                digit=self.digit,
                lease_ttl_seconds=self.settings.lease_ttl_seconds,
                timezone=self.settings.digit_timezone,
                clock=self.clock,
                create_settle_seconds=self.settings.create_settle_seconds,
                observer=self.observer,
            ),
        )

    @property
    def scheduler(self) -> RegistrationScheduler:
        if self.scheduler_factory is None:
            raise RuntimeError("no registration scheduler configured")
        return self._once("scheduler", self.scheduler_factory)

    def _open_marks_in_ledger(self) -> list[tuple[str, str, str, str]]:
        """What the open-payment marks hold, read from the ledger to rebuild them: the open
        claims and the reversals whose dues are re-opening (integrator.store.open_claims)."""
        from integrator.store.cancellations import CancellationStore

        return [*self.payments_store.open_claims(), *CancellationStore(self.db).reopening_marks()]

    @property
    def cancellations(self) -> Cancellations:
        return self._once(
            "cancellations",
            lambda: build_cancellations(
                settings=self.settings,
                db=self.db,
                redis=self.redis,
                payments=self.payments_store,
                digit=lambda: self.digit,
                clock=self.clock,
            ),
        )

    @property
    def payments(self) -> PaymentService:
        from integrator.payments.service import PaymentService

        return self._once(
            "payments",
            lambda: PaymentService(
                settings=self.settings,
                digit=self.digit,
                payments=self.payments_store,
                idempotency=self.idempotency,
                leases=self.leases,
                snapshots=self.snapshots,
                served=ServedBills(
                    self.redis,
                    snapshots=self.snapshots,
                    marks=self.open_claim_marks,
                    read_open_claims=self._open_marks_in_ledger,
                ),
                registrar=self.registrar,
                scheduler=self.scheduler,
                receipts=self.receipts,
                clock=self.clock,
                observer=self.observer,
            ),
        )

    # --- receipts ---
    @property
    def receipt_prints(self) -> ReceiptPrintStore:
        from integrator.store.receipts import ReceiptPrintStore

        return self._once("receipt_prints", lambda: ReceiptPrintStore(self.db))

    @property
    def receipts(self) -> ReceiptService:
        from integrator.payments.receipt_service import ReceiptService, ReceiptSettings
        from integrator.store.receipts import ReceiptFactsCache, ReceiptLookupLimiter

        settings = self.settings
        return self._once(
            "receipts",
            lambda: ReceiptService(
                settings=ReceiptSettings(
                    cache_seconds=settings.receipt_cache_seconds,
                    lookups_per_minute=settings.receipt_lookups_per_minute,
                    snapshot_max_age_seconds=settings.snapshot_max_age_seconds,
                    timezone=settings.digit_timezone,
                    collectable_services=tuple(settings.collectable_services),
                ),
                payments=self.payments_store,
                prints=self.receipt_prints,
                facts_cache=ReceiptFactsCache(self.redis),
                limiter=ReceiptLookupLimiter(self.redis),
                snapshots=self.snapshots,
                digit=self.digit,
                clock=self.clock,
            ),
        )

    # --- offline collection and the collector's cash ---
    @property
    def offline_store(self) -> OfflineStore:
        from integrator.store.offline import OfflineStore

        return self._once("offline_store", lambda: OfflineStore(self.db))

    @property
    def cash_store(self) -> CashStore:
        from integrator.store.cash import CashStore

        return self._once("cash_store", lambda: CashStore(self.db))

    @property
    def cash(self) -> CashBook:
        from integrator.payments.cash import CashBook, LimitDefaults

        return self._once(
            "cash",
            lambda: CashBook(
                defaults=LimitDefaults(
                    offline_max_age_seconds=self.settings.offline_max_age_seconds,
                    offline_cash_limit=self.settings.offline_cash_limit,
                    cash_in_hand_cap=self.settings.cash_in_hand_cap,
                ),
                store=self.cash_store,
                offline=self.offline_store,
                devices=self.devices.get_by_name,
                accepted=self.idempotency.payment_id,
                clock=self.clock,
            ),
        )

    @property
    def upload_locks(self) -> UploadLocks:
        """Offline uploads of one device judged one at a time. Their locks are held on a pool of
        their own (opened on first use, at most DATABASE_POOL_SIZE connections, one per upload
        in progress): an upload waiting for its device's lock must not hold a connection the
        upload holding it needs to store its items (store/upload_locks.py)."""
        from integrator.store.upload_locks import UploadLocks

        def build() -> UploadLocks:
            db = self._once(
                "upload_locks_db",
                lambda: Database.connect(
                    self.settings.database_url,
                    min_size=0,
                    max_size=self.settings.database_pool_size,
                ),
            )
            return UploadLocks(db)

        return self._once("upload_locks", build)

    @property
    def offline_uploads(self) -> OfflineUploads:
        from integrator.payments.offline import OfflineUploads

        return self._once(
            "offline_uploads",
            lambda: OfflineUploads(
                payments=self.payments,
                store=self.payments_store,
                offline=self.offline_store,
                snapshots=self.snapshots,
                digit=lambda: self.digit,
                cash=self.cash,
                locks=self.upload_locks,
                clock=self.clock,
                timezone=self.settings.digit_timezone,
                observer=self.observer,
            ),
        )

    @property
    def day_close(self) -> DayClose:
        from integrator.payments.day_close import DayClose

        return self._once(
            "day_close",
            lambda: DayClose(
                store=self.cash_store,
                devices=self.devices.get_by_name,
                timezone=self.settings.settlement_timezone,
                clock=self.clock,
            ),
        )


def build_observer(
    db: Database,
    redis: redis_lib.Redis,
    settings: Settings,
    *,
    batcher: RedisBatcher | None = None,
) -> Observer:
    """What a process reports to: the metrics recorder (Redis) and the webhook observer, which
    reads endpoints from the ledger and enqueues deliveries on RQ."""
    from integrator.jobs.webhooks import RqWebhookScheduler
    from integrator.observability.events import FanOut
    from integrator.observability.recorder import RedisMetrics
    from integrator.webhooks.observer import WebhookObserver

    webhooks = WebhookObserver(
        endpoints=WebhookStore(db), scheduler=RqWebhookScheduler(redis, settings)
    )
    return FanOut([RedisMetrics(redis, batcher=batcher), webhooks])


def build_cancellations(
    *,
    settings: Settings,
    db: Database,
    redis: redis_lib.Redis,
    payments: PaymentStore,
    digit: Callable[[], DigitClient],
    clock: Callable[[], datetime],
) -> Cancellations:
    """The reversal use cases (the web app, the CLI and the dues job build them alike)."""
    from datetime import timedelta

    from integrator.jobs.cancellation import RqDuesScheduler, WebhookReversalNotifier
    from integrator.payments.cancellation import Cancellations
    from integrator.store.cancellations import CancellationStore

    polls = settings.cancellation_dues_poll_seconds
    return Cancellations(
        requests=CancellationStore(db, claim_marks=OpenClaimMarks(redis)),
        payments=payments,
        digit=digit,
        dues=lambda: RqDuesScheduler(redis),
        notifier=lambda: WebhookReversalNotifier(redis, db, settings),
        window=timedelta(minutes=settings.cancellation_window_minutes),
        dues_first_delay_seconds=float(polls[0]) if polls else 0.0,
        clock=clock,
    )


def services_of(app: Flask) -> Services:
    services = app.extensions[EXTENSION_KEY]
    assert isinstance(services, Services)
    return services


def current_services() -> Services:
    """The Services of the current app (request, app context, or a worker's job)."""
    return services_of(current_app)
