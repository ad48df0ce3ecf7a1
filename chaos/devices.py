"""Simulated PoS devices: fetch the bill, pay, and on no answer retry with the SAME key and body.

A plan is built up front (deterministic for a seed): each payment names its consumers (one, or
2-3 of one city for a multi-bill payment), a mode preference and whether to pay part. The device
decides the rest from the bill it fetched, as a real one does: the modes the bill refuses, the
minimum and total. Each thread is one device; device i sends its attempts to web instance
i, i+1, ... in turn, with a short client timeout. An answer is definitive when it is 201, 202,
200, 422, 404 or 409 PAYMENT_IN_PROGRESS; anything else (timeouts, 5xx, 429, 409
REQUEST_IN_FLIGHT) is retried with the same Idempotency-Key and body until the payment's
deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import requests
import simplejson

from integrator.sandbox.seed import extra_seed

DEFINITIVE = {200, 201, 202, 404, 422}
ACCEPTED = {200, 201, 202}


@dataclass(frozen=True, kw_only=True)
class PlannedPayment:
    index: int
    tenant: str
    consumers: tuple[tuple[str, str, str], ...]  # (tenant, service, consumer code)
    mode: str  # preferred: CASH, CARD or CHEQUE (the bill's refused modes win)
    partial: bool  # pay part of each bill where the bill allows it
    key: str  # the device's Idempotency-Key


def plan(
    payments: int, *, seed: int, multi_share: float = 0.15, partial_share: float = 0.3
) -> tuple[list[PlannedPayment], int]:
    """The payments of a run and how many extra sandbox consumers they need."""
    rng = random.Random(seed)
    needed = int(payments * (1 + 2 * multi_share)) + 8
    pool: dict[str, list[tuple[str, str, str]]] = {}
    for entry in extra_seed(needed):
        c = entry.consumer
        pool.setdefault(c.tenant_id, []).append(c.key)
    for consumers in pool.values():
        consumers.reverse()  # pop() from the end takes them in seed order
    planned: list[PlannedPayment] = []
    for index in range(payments):
        tenant = sorted(pool)[index % len(pool)]
        count = rng.choice((2, 3)) if rng.random() < multi_share else 1
        count = min(count, len(pool[tenant]))
        if count == 0:
            break
        consumers = tuple(pool[tenant].pop() for _ in range(count))
        mode = rng.choices(("CASH", "CARD", "CHEQUE"), weights=(5, 3, 2))[0]
        planned.append(
            PlannedPayment(
                index=index,
                tenant=tenant,
                consumers=consumers,
                mode=mode,
                partial=rng.random() < partial_share,
                key=f"chaos-{seed}-{index:06d}",
            )
        )
    return planned, needed


@dataclass
class Answer:
    """Everything one Idempotency-Key was answered."""

    key: str
    index: int
    statuses: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    payment_ids: list[str] = field(default_factory=list)
    bills: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "not_started"
    accepted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "index": self.index,
            "statuses": self.statuses,
            "codes": self.codes,
            "payment_ids": sorted(set(self.payment_ids)),
            "bills": self.bills,
            "outcome": self.outcome,
            "accepted": self.accepted,
        }


class Fleet:
    """The device threads of a run, paced so the plan spreads over `phase_seconds`."""

    def __init__(
        self,
        *,
        web_urls: list[str],
        device_keys: list[str],
        planned: list[PlannedPayment],
        phase_seconds: float,
        client_timeout: float,
        deadline_seconds: float,
        seed: int,
    ) -> None:
        self.web_urls = web_urls
        self.device_keys = device_keys
        self.planned = planned
        self.phase_seconds = phase_seconds
        self.client_timeout = client_timeout
        self.deadline_seconds = deadline_seconds
        self.seed = seed
        self.answers = {p.key: Answer(key=p.key, index=p.index) for p in planned}
        self.http: Counter[str] = Counter()
        self.requests = 0
        self.retries = 0
        self.timeouts = 0
        self.next_index = 0
        self.internal_errors: list[float] = []  # monotonic times of generic 500 answers
        self.claimed: set[int] = set()  # plan indexes a device has started
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        self.stop = threading.Event()

    # --- running ---

    def start(self) -> None:
        self._started = time.monotonic()
        for i, key in enumerate(self.device_keys):
            thread = threading.Thread(
                target=self._device, args=(i, key), daemon=True, name=f"device-{i}"
            )
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def progress(self) -> int:
        with self._lock:
            return self.next_index

    def upcoming(self, skip: int, count: int) -> list[PlannedPayment]:
        """Plan entries no device has started yet, `skip` past the next one."""
        with self._lock:
            start = self.next_index + skip
        return self.planned[start : start + count]

    def _take(self) -> PlannedPayment | None:
        with self._lock:
            if self.next_index >= len(self.planned) or self.stop.is_set():
                return None
            item = self.planned[self.next_index]
            self.next_index += 1
            self.claimed.add(item.index)
        return item

    def _device(self, number: int, device_key: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {device_key}"
        rng = random.Random(self.seed * 1000 + number)
        pace = self.phase_seconds / max(len(self.planned), 1)
        turn = number
        while (item := self._take()) is not None:
            due = self._started + item.index * pace
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            answer = self.answers[item.key]
            try:
                turn = self._pay(session, item, answer, rng, turn)
            except Exception as exc:  # a bug in the simulator must not hide in a thread
                answer.outcome = f"device_error:{type(exc).__name__}"
        session.close()

    # --- one payment ---

    def _pay(
        self,
        session: requests.Session,
        item: PlannedPayment,
        answer: Answer,
        rng: random.Random,
        turn: int,
    ) -> int:
        deadline = time.monotonic() + self.deadline_seconds
        bills: list[dict[str, Any]] = []
        for tenant, service, code in item.consumers:
            found, turn = self._fetch(session, tenant, service, code, deadline, turn)
            if found is None:
                answer.outcome = "fetch_gave_up"
                return turn
            if found and found[0].get("pendingPayment") is None:
                bills.append(found[0])
        if not bills:
            answer.outcome = "nothing_due"
            return turn
        body = self._body(item, bills, rng)
        time.sleep(0.2 + rng.random())  # the cashier takes the money
        answer.bills = [{"billId": b["billId"], "amount": str(b["amount"])} for b in body["bills"]]
        data = simplejson.dumps(body, use_decimal=True)
        headers = {"Idempotency-Key": item.key, "Content-Type": "application/json"}
        attempt = 0
        while True:
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(min(0.3 * attempt, 2.0) + rng.random() * 0.3)
            attempt += 1
            url = self.web_urls[turn % len(self.web_urls)]
            turn += 1
            status, problem, payload = self._call(
                session, "POST", f"{url}/v1/payments", data=data, headers=headers
            )
            if status:
                answer.statuses.append(status)
                answer.codes.append(problem)
            if payload and status in ACCEPTED and isinstance(payload.get("id"), str):
                answer.payment_ids.append(payload["id"])
            if status in ACCEPTED:
                answer.accepted = True
                answer.outcome = f"accepted_{status}"
                return turn
            if status in DEFINITIVE or (status == 409 and problem == "PAYMENT_IN_PROGRESS"):
                answer.outcome = f"refused_{status}_{problem or '-'}"
                return turn
            if time.monotonic() > deadline or self.stop.is_set():
                answer.outcome = "pay_gave_up"
                return turn

    def _fetch(
        self,
        session: requests.Session,
        tenant: str,
        service: str,
        code: str,
        deadline: float,
        turn: int,
    ) -> tuple[list[dict[str, Any]] | None, int]:
        params = {"tenantId": tenant, "businessService": service, "consumerCode": code}
        attempt = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(min(0.3 * attempt, 2.0))
            attempt += 1
            url = self.web_urls[turn % len(self.web_urls)]
            turn += 1
            status, _problem, payload = self._call(session, "GET", f"{url}/v1/bills", params=params)
            if status == 200 and payload is not None:
                return list(payload.get("bills") or []), turn
            if status in {400, 401, 403, 404, 422}:
                return None, turn
        return None, turn

    def _call(
        self, session: requests.Session, method: str, url: str, **kwargs: Any
    ) -> tuple[int, str, dict[str, Any] | None]:
        """(status, problem code, JSON body); status 0 when no answer came."""
        with self._lock:
            self.requests += 1
        try:
            response = session.request(method, url, timeout=(1.0, self.client_timeout), **kwargs)
        except requests.Timeout:
            with self._lock:
                self.timeouts += 1
                self.http["timeout"] += 1
            return 0, "", None
        except requests.ConnectionError:
            with self._lock:
                self.http["connection_error"] += 1
            return 0, "", None
        try:
            payload = simplejson.loads(response.content, use_decimal=True)
        except ValueError:
            payload = None
        problem = ""
        if isinstance(payload, dict) and response.status_code >= 400:
            problem = str(payload.get("code") or "")
        label = f"{method} {response.status_code}"
        if problem:
            label += f" {problem}"
        with self._lock:
            self.http[label] += 1
            if response.status_code == 500:
                self.internal_errors.append(time.monotonic())
        return response.status_code, problem, payload if isinstance(payload, dict) else None

    @staticmethod
    def _body(
        item: PlannedPayment, bills: list[dict[str, Any]], rng: random.Random
    ) -> dict[str, Any]:
        refused = {m for b in bills for m in b.get("paymentModesNotAllowed") or ()}
        mode = (
            item.mode
            if item.mode not in refused
            else next(m for m in ("CASH", "CARD", "CHEQUE") if m not in refused)
        )
        lines = []
        for bill in bills:
            total = Decimal(str(bill["totalAmount"]))
            amount = total
            minimum = Decimal(str(bill["minimumPayable"]))
            if item.partial and bill.get("partPaymentAllowed") and total > minimum + 1:
                amount = max(minimum, (total / 2).to_integral_value())
                amount = min(amount, total - 1)
            lines.append({"billId": bill["billId"], "amount": amount})
        body: dict[str, Any] = {
            "tenantId": item.tenant,
            "paymentMode": mode,
            "paidBy": bills[0].get("payerName") or "Chaos Payer",
            "bills": lines,
        }
        if mode == "CARD":
            body["transactionNumber"] = f"TXN{item.index:08d}"
            body["instrumentNumber"] = f"CARD{rng.randrange(10**7, 10**8)}"
        elif mode == "CHEQUE":
            body["instrumentNumber"] = f"{rng.randrange(10**5, 10**6)}"
            # within DIGIT's window: not in the future, not older than 90 days
            cheque_date = date.today() - timedelta(days=1 + item.index % 60)
            body["instrumentDate"] = cheque_date.isoformat()
        return body
