"""The harm a chaos run does, on a timeline spread over the device phase.

Note: DIGIT never checks a bill's status on payments/_create (digest 5.4: an EXPIRED bill
passes; only billDetails[].expiryDate counts), so a new demand alone does not refuse a waiting
create. The run therefore also moves the sandbox clock past the bills' expiry date during the
outage, which is what makes waiting creates meet BILL_EXPIRED.

DIGIT faults go through the sandbox's admin API (`/_sandbox/faults`, `revoke-tokens`,
`counter-payment`, `new-demand`); process faults through `procs.Cluster` (a worker SIGKILLed,
the ledger's PostgreSQL primary SIGKILLed and its synchronous standby promoted, Redis flushed
and restarted empty). Every injection is counted by kind, and
the consumers changed behind our back (counter payments, new demands) are recorded: they are the
only accepted causes of NEEDS_ATTENTION.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from chaos.check import ours_id
from chaos.devices import Fleet
from chaos.procs import Cluster, http_ok
from integrator.payments.models import PaymentStatus
from integrator.store.payments import PaymentStore

Consumer = tuple[str, str, str]

#: How each DIGIT fault is named in the report; PER_CALL ones count the calls they spoil.
COUNTED = {
    "error_rate": "error_rate_window",
    "latency_ms": "latency_spike",
    "down": "digit_down",
    "timeout_after_commit": "timeout_after_commit",
    "unknown_400_after_commit": "unknown_400_after_commit",
}
PER_CALL = {"timeout_after_commit", "unknown_400_after_commit"}

#: How long the sandbox holds a create before committing it late (< CREATE_SETTLE_SECONDS).
HOLD_SECONDS = 10.0

#: Past the sandbox's 15-day bill expiry, well inside DIGIT's 90-day cheque window.
CLOCK_JUMP_SECONDS = 16 * 86400


class Chaos:
    """Runs the fault timeline in a thread; `stop()` ends it early and clears DIGIT's faults."""

    def __init__(
        self,
        *,
        cluster: Cluster,
        fleet: Fleet,
        ledger: PaymentStore,
        phase_seconds: float,
        targets: int,
        log: Callable[[str], None],
    ) -> None:
        self.cluster = cluster
        self.fleet = fleet
        self.ledger = ledger
        self.phase = phase_seconds
        self.targets = targets
        self.log = log
        self.injected: Counter[str] = Counter()
        self.counter: list[Consumer] = []
        self.demand: list[Consumer] = []
        self.refused: Counter[str] = Counter()  # injections the sandbox refused (e.g. paid)
        self.notes: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._session = requests.Session()
        self.error: str | None = None
        # when a part was gone (Redis flushed, the ledger's primary killed) .. web ready again
        self.windows: dict[str, tuple[float, float]] = {}

    # --- plumbing ---

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.faults(
            latency_ms=0,
            error_rate=0,
            timeout_after_commit=0,
            unknown_400_after_commit=0,
            down=False,
            count=False,
        )

    def _at(self, fraction: float) -> bool:
        """Sleep until `fraction` of the phase; False when the run is stopping."""
        due = self._started + fraction * self.phase
        return not self._stop.wait(max(0.0, due - time.monotonic()))

    def _admin(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self._session.post(
            f"{self.cluster.sandbox_url}/_sandbox/{path}", json=body, timeout=10
        )

    def faults(self, *, count: bool = True, **values: Any) -> None:
        self._admin("faults", values).raise_for_status()
        if count:
            for key, value in values.items():
                if value and key in COUNTED:
                    self.injected[COUNTED[key]] += int(value) if key in PER_CALL else 1
        self.log(f"faults {values}")

    def note(self, what: str, **detail: Any) -> None:
        self.notes.append(
            {"at": round(time.monotonic() - self._started, 1), "what": what, **detail}
        )
        self.log(f"{what} {detail}")

    # --- the timeline ---

    def _run(self) -> None:
        try:
            self._timeline()
        except Exception as exc:  # report it; the run's verdict still comes from the data
            self.error = f"{type(exc).__name__}: {exc}"
            self.log(f"fault timeline failed: {self.error}")

    def _timeline(self) -> None:
        steps: list[tuple[float, Callable[[], None]]] = [
            (0.02, lambda: self.faults(error_rate=0.1)),
            (0.08, lambda: self._spike(1200, 3)),
            (
                0.12,
                lambda: self.faults(
                    timeout_after_commit=3, hang_seconds=3, unknown_400_after_commit=3
                ),
            ),
            (0.20, self._revoke),
            (0.25, lambda: self._kill_worker(0)),
            (0.33, lambda: self.faults(error_rate=0)),
            (0.36, lambda: self._spike(2500, 3)),
            (0.40, self._hold_creates),
            (0.42, self._outage),
            (0.58, self._ledger_failover),
            (0.68, self._redis_flush),
            (
                0.74,
                lambda: self.faults(
                    timeout_after_commit=2,
                    hang_seconds=3,
                    unknown_400_after_commit=2,
                    error_rate=0.05,
                ),
            ),
            (0.80, lambda: self._spike(1500, 2)),
            (
                0.88,
                lambda: self.faults(
                    error_rate=0, timeout_after_commit=0, unknown_400_after_commit=0, count=False
                ),
            ),
        ]
        for fraction, step in steps:
            if not self._at(fraction):
                return
            step()

    def _hold_creates(self) -> None:
        """The next creates are validated, held, answered 504 by the gateway at once, and
        committed anyway HOLD_SECONDS later (unless their bill got a payment meanwhile), while
        the outage that follows lets their bills expire: the late commit that must never make
        a consumer pay twice."""
        count = max(2, self.targets // 4)
        self._admin(
            "faults",
            {"hold_creates": count, "hold_seconds": HOLD_SECONDS, "gateway_timeout_seconds": 1},
        ).raise_for_status()
        self.injected["create_held_then_committed_late"] += count
        self.note("creates held for a late commit", count=count, seconds=HOLD_SECONDS)

    def _spike(self, latency_ms: int, seconds: float) -> None:
        self.faults(latency_ms=latency_ms)
        self._stop.wait(seconds)
        self.faults(latency_ms=0, count=False)

    def _revoke(self) -> None:
        self._admin("revoke-tokens", {}).raise_for_status()
        self.injected["revoke_tokens"] += 1
        self.note("tokens revoked")

    def _kill_worker(self, index: int) -> None:
        self.injected["worker_sigkill"] += 1
        self.note("worker SIGKILL", worker=self.cluster.workers[index].name)
        threading.Thread(
            target=self.cluster.kill_worker,
            args=(index,),
            kwargs={"restart_after": 5.0},
            daemon=True,
        ).start()

    def _outage(self) -> None:
        """DIGIT down for a while; meanwhile, counter payments and new demands behind our back
        on consumers with PENDING payments and on consumers the devices are about to pay."""
        seconds = max(8.0, 0.12 * self.phase)
        self.faults(down=True)
        self._stop.wait(seconds * 0.5)
        self._behind_our_back()
        # DIGIT's calendar passes the bills' expiry while our payments wait (an outage over a
        # month end): every waiting create meets BILL_EXPIRED and is re-targeted, or, where a
        # new demand changed the total of a full payment, needs a person
        self._admin("clock", {"advance_seconds": CLOCK_JUMP_SECONDS}).raise_for_status()
        self.injected["bill_expiry_clock_jump"] += 1
        self.note("sandbox clock advanced", days=CLOCK_JUMP_SECONDS // 86400)
        self._stop.wait(seconds * 0.5)
        self.faults(down=False, count=False)
        self.note("DIGIT up again", outage_seconds=seconds)

    def _behind_our_back(self) -> None:
        store = self.ledger
        pending = [
            p
            for p in store.get_many(store.ids_by_status(PaymentStatus.PENDING, limit=500))
            if p.status is PaymentStatus.PENDING
        ]
        # only payments DIGIT does not hold yet: a create that committed before the outage
        # (timeout after commit) is adopted later, whatever happens to the consumer now
        held = {
            ours_id(p)
            for p in self._session.get(
                f"{self.cluster.sandbox_url}/_sandbox/payments", timeout=30
            ).json()["Payments"]
        }
        pending = [p for p in pending if p.id not in held]
        self.note("pending at the outage, not in DIGIT", count=len(pending))
        half = max(1, self.targets // 2)
        for i, payment in enumerate(pending[: 2 * half]):
            bill = payment.bills[0]
            consumer = (payment.tenant_id, bill.business_service, bill.consumer_code)
            (self._counter if i % 2 == 0 else self._new_demand)(consumer)
        upcoming = self.fleet.upcoming(skip=2 * len(self.fleet.device_keys), count=2 * half)
        for i, item in enumerate(upcoming):
            (self._counter if i % 2 == 0 else self._new_demand)(item.consumers[0])

    def _counter(self, consumer: Consumer) -> None:
        """A payment at DIGIT's counter; every other one pays only part of the bill."""
        tenant, service, code = consumer
        body: dict[str, Any] = {
            "tenantId": tenant,
            "businessService": service,
            "consumerCode": code,
        }
        if len(self.counter) % 2 == 1:
            body["amount"] = 100
            self.injected["counter_payment_partial"] += 1
        response = self._admin("counter-payment", body)
        if response.status_code == 200:
            self.counter.append(consumer)
            self.injected["counter_payment"] += 1
        else:
            self.refused[f"counter_payment_{response.status_code}"] += 1

    def _new_demand(self, consumer: Consumer) -> None:
        tenant, service, code = consumer
        response = self._admin(
            "new-demand", {"tenantId": tenant, "businessService": service, "consumerCode": code}
        )
        if response.status_code == 200 and response.json().get("demands"):
            self.demand.append(consumer)
            self.injected["new_demand"] += 1
        else:
            self.refused[f"new_demand_{response.status_code}"] += 1

    def _ledger_failover(self) -> None:
        """SIGKILL the ledger's primary mid-traffic and promote its synchronous standby: every
        payment a device was told about must be on the promoted ledger."""
        self.injected["ledger_primary_sigkill_failover"] += 1
        killed = time.monotonic()
        timings = self.cluster.postgres_failover()
        self.note("ledger primary SIGKILLed, standby promoted", **timings)
        self._await_web("ledger failover", killed)

    def _redis_flush(self) -> None:
        """Lose everything Redis holds (queue, token, snapshots, caches): FLUSHALL, then a
        restart on an empty data directory. Redis holds no money: nothing may be lost."""
        self.injected["redis_flushall_restart_empty"] += 1
        killed = time.monotonic()
        took = self.cluster.flush_redis_and_restart_empty()
        self.note("Redis flushed and restarted empty", seconds_to_ping=round(took, 2))
        self._await_web("redis flush", killed)

    def _await_web(self, what: str, since: float) -> None:
        """Do the web instances take writes again without a restart of their own?"""
        deadline = time.monotonic() + 30
        ready: dict[str, float | None] = {}
        for part, url in zip(self.cluster.webs, self.cluster.web_urls, strict=True):
            while time.monotonic() < deadline and not http_ok(f"{url}/readyz", timeout=3):
                time.sleep(0.2)
            ok = http_ok(f"{url}/readyz", timeout=3)
            ready[part.name] = round(time.monotonic() - self._started, 1) if ok else None
        self.windows[what] = (since, time.monotonic() + 1.0)
        self.note(
            f"web readiness after the {what}",
            ready=ready,
            web_starts={p.name: p.starts for p in self.cluster.webs},
            worker_starts={p.name: p.starts for p in self.cluster.workers},
        )
