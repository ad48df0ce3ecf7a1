"""Field devices that lose their signal: they fetch their consumers' bills while online, collect
offline for a while (counter payments are made at DIGIT's counter on some of those consumers
meanwhile), then upload what they took in batches (`POST /v1/payments/batch`), each batch twice,
re-uploading with the same keys until every payment has a final answer, while the fault timeline
(chaos.faults) runs.

The hooks in chaos.run: `reserve` (consumers of their own, beyond the fleet's), `OfflineRun`
(started with the fleet, joined after it) and `settle` (the verdict for these payments):
- lost: a payment answered accepted or quarantined that our store does not hold, or one never
  given a final answer;
- duplicated: one key answered with two payment ids, or a re-upload that changed an answer;
- unexplained: a quarantined payment (NEEDS_ATTENTION, OFFLINE_CONFLICT) whose conflict is not
  explained by what the run did (a counter payment on its consumer, or collected too long ago),
  or any other NEEDS_ATTENTION of these payments without a counter payment on its consumer.
The main check counts OFFLINE_CONFLICT as unexplained (it injects no such cause); `settle` takes
back the ones explained here and adds its own failures.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
import simplejson

from chaos.procs import ROOT
from integrator.sandbox.seed import extra_seed

DEVICES = 3
BATCH = 5
#: Conflicts a counter payment on the consumer explains.
PAID_ELSEWHERE = {
    "BILL_ALREADY_PAID",
    "BILL_NOT_PAYABLE",
    "BILL_SUPERSEDED",
    "AMOUNT_BELOW_MINIMUM",
    "AMOUNT_ABOVE_MAXIMUM",
    "PARTIAL_PAYMENT_NOT_ALLOWED",
    "BILL_PAID_ELSEWHERE",
    "BILL_EXPIRED_TOTAL_CHANGED",
    "PAYMENT_IN_PROGRESS",
}
FINAL = {"accepted", "quarantined"}

Consumer = tuple[str, str, str]


@dataclass(frozen=True, kw_only=True)
class OfflinePlan:
    consumers: tuple[Consumer, ...]
    extra_consumers: int  # the sandbox's extra consumers, the fleet's and these


def reserve(payments: int, fleet_consumers: int) -> OfflinePlan:
    """Consumers of the offline devices: extra sandbox consumers after the fleet's."""
    count = max(6, payments // 5)
    mine = extra_seed(fleet_consumers + count)[fleet_consumers:]
    return OfflinePlan(
        consumers=tuple(e.consumer.key for e in mine), extra_consumers=fleet_consumers + count
    )


@dataclass
class Item:
    key: str
    consumer: Consumer
    too_old: bool = False
    body: dict[str, Any] | None = None
    outcomes: list[str] = field(default_factory=list)
    payment_ids: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return bool(self.outcomes) and (
            self.outcomes[-1] in FINAL or (self.outcomes[-1] == "refused_final")
        )


class OfflineRun:
    def __init__(
        self,
        *,
        env: Mapping[str, str],
        web_urls: list[str],
        sandbox_url: str,
        plan: OfflinePlan,
        phase_seconds: float,
        seed: int,
        log: Callable[[str], None],
    ) -> None:
        self.env = dict(env)
        self.web_urls = web_urls
        self.sandbox_url = sandbox_url
        self.phase = phase_seconds
        self.log = log
        self.rng = random.Random(seed * 7 + 1)
        self.items: list[list[Item]] = [[] for _ in range(DEVICES)]
        for i, consumer in enumerate(plan.consumers):
            self.items[i % DEVICES].append(Item(key=f"offline-{seed}-{i:04d}", consumer=consumer))
        self.items[0][0].too_old = True  # one payment kept offline beyond the age limit
        self.counter: list[Consumer] = []
        self.uploads = 0
        self.changed_on_reupload: list[str] = []
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(DEVICES):
            thread = threading.Thread(
                target=self._device, args=(i,), daemon=True, name=f"offline-{i}"
            )
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _add_device(self, i: int) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "integrator.cli", "devices", "add", f"chaos-offline-{i}",
             "--tenant", "pb"],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]

    # --- one device ---

    def _device(self, number: int) -> None:
        session = requests.Session()
        try:
            session.headers["Authorization"] = f"Bearer {self._add_device(number)}"
            self._run_device(number, session)
        except Exception as exc:  # a bug in the simulator must not hide in a thread
            self.errors.append(f"device {number}: {type(exc).__name__}: {exc}")
        finally:
            session.close()

    def _run_device(self, number: int, session: requests.Session) -> None:
        items = self.items[number]
        started = time.monotonic()
        deadline = started + self.phase * 1.5 + 120
        # online: fetch the bills it will collect against (the integrator keeps snapshots)
        bills: dict[str, dict[str, Any]] = {}
        for item in items:
            found = self._fetch(session, item.consumer, deadline, number)
            if found:
                bills[item.key] = found[0]
        # offline for a third of the phase: collect; the counter takes some of those consumers
        offline_until = started + self.phase / 3
        for i, item in enumerate(items):
            bill = bills.get(item.key)
            if bill is None:
                continue
            time.sleep(max(0.0, (offline_until - time.monotonic()) / (len(items) - i + 1)))
            collected = datetime.now(UTC) - (timedelta(hours=80) if item.too_old else timedelta())
            item.body = self._body(item, bill, collected)
            if i % 3 == 1:
                self._counter_payment(item.consumer)
        time.sleep(max(0.0, offline_until - time.monotonic()))
        # signal is back: upload in batches, each twice; again until all are answered for good
        pending = [i for i in items if i.body is not None]
        turn = number
        while pending and time.monotonic() < deadline:
            for batch_start in range(0, len(pending), BATCH):
                batch = pending[batch_start : batch_start + BATCH]
                for _ in range(2):
                    turn = self._upload(session, batch, turn)
            pending = [i for i in pending if not i.final]
            if pending:
                time.sleep(1 + self.rng.random())

    def _fetch(
        self, session: requests.Session, consumer: Consumer, deadline: float, turn: int
    ) -> list[dict[str, Any]]:
        tenant, service, code = consumer
        params = {"tenantId": tenant, "businessService": service, "consumerCode": code}
        while time.monotonic() < deadline:
            url = self.web_urls[turn % len(self.web_urls)]
            turn += 1
            try:
                response = session.get(f"{url}/v1/bills", params=params, timeout=(1, 10))
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if response.status_code == 200:
                return list(simplejson.loads(response.content, use_decimal=True)["bills"])
            if response.status_code in (400, 401, 403, 404, 422):
                return []
            time.sleep(0.5)
        return []

    def _counter_payment(self, consumer: Consumer) -> None:
        tenant, service, code = consumer
        response = requests.post(
            f"{self.sandbox_url}/_sandbox/counter-payment",
            json={"tenantId": tenant, "businessService": service, "consumerCode": code},
            timeout=10,
        )
        if response.status_code == 200:
            with self._lock:
                self.counter.append(consumer)

    def _body(self, item: Item, bill: dict[str, Any], collected: datetime) -> dict[str, Any]:
        total = Decimal(str(bill["totalAmount"]))
        refused = set(bill.get("paymentModesNotAllowed") or ())
        mode = "CASH" if "CASH" not in refused else "CARD"
        body: dict[str, Any] = {
            "idempotencyKey": item.key,
            "tenantId": bill["tenantId"],
            "paymentMode": mode,
            "paidBy": bill.get("payerName") or "Chaos Payer",
            "collectedAt": collected.isoformat(),
            "bills": [{"billId": bill["billId"], "amount": total}],
        }
        if mode == "CARD":
            body["transactionNumber"] = f"TXN-{item.key}"
            body["instrumentNumber"] = f"CARD{self.rng.randrange(10**7, 10**8)}"
        return body

    def _upload(self, session: requests.Session, batch: list[Item], turn: int) -> int:
        url = self.web_urls[turn % len(self.web_urls)]
        data = simplejson.dumps({"payments": [i.body for i in batch]}, use_decimal=True)
        with self._lock:
            self.uploads += 1
        try:
            response = session.post(
                f"{url}/v1/payments/batch",
                data=data,
                headers={"Content-Type": "application/json"},
                timeout=(1, 60),
            )
        except requests.RequestException:
            return turn + 1
        if response.status_code != 200:
            return turn + 1
        answers = simplejson.loads(response.content, use_decimal=True)["payments"]
        for item, answer in zip(batch, answers, strict=True):
            outcome = answer["outcome"]
            payment = answer.get("payment") or {}
            problem = answer.get("problem") or {}
            if outcome == "refused" and problem.get("retryAfter") is None:
                outcome = "refused_final"
            if item.final and outcome == "refused":
                continue  # a replay that could not be answered now (ledger down): ask again later
            if item.final and outcome != item.outcomes[-1]:
                self.changed_on_reupload.append(f"{item.key}: {item.outcomes[-1]} -> {outcome}")
            item.outcomes.append(outcome)
            item.codes.append(
                str(problem.get("code") or (answer.get("conflict") or {}).get("code") or "")
            )
            if payment.get("id"):
                if item.payment_ids and payment["id"] not in item.payment_ids:
                    self.changed_on_reupload.append(f"{item.key}: another payment id")
                item.payment_ids.append(payment["id"])
        return turn + 1

    # --- the verdict ---

    def summary(self) -> dict[str, Any]:
        outcomes: dict[str, int] = {}
        for item in self.all_items():
            last = item.outcomes[-1] if item.outcomes else "never_answered"
            outcomes[last] = outcomes.get(last, 0) + 1
        return {
            "devices": DEVICES,
            "payments": len(self.all_items()),
            "uploads": self.uploads,
            "counter_payments": len(self.counter),
            "outcomes": dict(sorted(outcomes.items())),
            "simulator_errors": self.errors,
        }

    def all_items(self) -> list[Item]:
        return [item for items in self.items for item in items]


def settle(
    verdict: dict[str, Any],
    run: OfflineRun,
    stored: list[Mapping[str, Any]],
    injected: Mapping[str, list[Any]],
) -> dict[str, Any]:
    """`verdict` with the offline payments judged here: their explained quarantines taken out of
    `unexplained`, their own failures added; counts and `ok` recomputed."""
    by_id = {p["id"]: p for p in stored}
    counter = {tuple(c) for c in run.counter} | {tuple(c) for c in injected.get("counter", ())}
    counter |= {tuple(c) for c in injected.get("demand", ())}
    items = {pid: item for item in run.all_items() for pid in item.payment_ids}
    failures = verdict["failures"]
    explained: set[str] = set()
    for pid, item in items.items():
        payment = by_id.get(pid)
        if payment is None or payment["status"] != "NEEDS_ATTENTION":
            continue
        code = next((c for c in reversed(item.codes) if c), "")
        too_old = item.too_old and code == "COLLECTED_TOO_LONG_AGO"
        paid = item.consumer in counter and PAID_ELSEWHERE & {code, payment["reason"]}
        if too_old or paid:
            explained.add(pid)
        else:
            failures["unexplained"].append(
                {"id": pid, "key": item.key, "reason": payment["reason"], "code": code,
                 "why": "offline payment held without a cause the run injected"}
            )  # fmt: skip
    # the main check's word on the payments judged here is replaced by the judgement above
    judged = {pid for pid, p in by_id.items() if pid in items and p["status"] == "NEEDS_ATTENTION"}
    failures["unexplained"] = [
        f for f in failures["unexplained"]
        if not (f.get("id") in judged and f.get("why") == "no injected cause on its consumers")
    ]  # fmt: skip
    for item in run.all_items():
        if item.body is None:
            continue  # nothing was collected (the bill could not be fetched)
        if item.outcomes and item.outcomes[-1] == "refused_final":
            failures["lost"].append(
                {"key": item.key, "why": f"money taken offline, refused for good: {item.codes}"}
            )
        elif not item.final:
            failures["lost"].append(
                {
                    "key": item.key,
                    "why": f"offline payment never answered for good: {item.outcomes}",
                }
            )
        if len(set(item.payment_ids)) > 1:
            failures["duplicated"].append(
                {"key": item.key, "why": f"one key, payments {sorted(set(item.payment_ids))}"}
            )
        for pid in set(item.payment_ids):
            if pid not in by_id:
                failures["lost"].append({"id": pid, "key": item.key, "why": "not in our store"})
    for change in run.changed_on_reupload:
        failures["duplicated"].append({"why": f"a re-upload changed an answer: {change}"})
    for error in run.errors:
        failures["unexplained"].append({"why": f"offline simulator: {error}"})
    verdict["counts"] = {kind: len(entries) for kind, entries in failures.items()}
    verdict["ok"] = not any(failures.values())
    verdict["offline"] = {**run.summary(), "quarantined_explained": len(explained)}
    return verdict
