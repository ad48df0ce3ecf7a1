"""The maintenance loop's step for reversals (jobs/cancellation.py `sweep_reversals`): bounded,
each request on its own, and no DIGIT look-up while DIGIT is marked down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import redis as redis_lib

from integrator.jobs.cancellation import SETTLE_PER_SWEEP, sweep_reversals
from integrator.payments.cancellation_records import Action, CancellationRequest, RequestState

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _unknown(n: int) -> CancellationRequest:
    return CancellationRequest(
        id=f"can-{n}",
        payment_id=f"pay-{n}",
        action=Action.CANCEL,
        reason="x",
        requested_by="operator:asha",
        requested_at=NOW,
        state=RequestState.UNKNOWN,
        sent_at=NOW + timedelta(seconds=n),
    )


class Cancellations:
    def __init__(self, requests: list[CancellationRequest], failing: set[str]) -> None:
        self.requests, self.failing = requests, failing
        self.looked: list[str] = []

    def unanswered(self) -> list[CancellationRequest]:
        return list(reversed(self.requests))

    def following_dues(self) -> list[CancellationRequest]:
        return []

    def stop_following(self, request_id: str, *, overdue: timedelta) -> bool:
        return False

    def settle_unanswered(self, request_id: str, *, settle: timedelta) -> None:
        self.looked.append(request_id)
        if request_id in self.failing:
            raise RuntimeError("the ledger went away")


def _ctx(redis: redis_lib.Redis, cancellations: Cancellations, *, down: bool) -> Any:
    return SimpleNamespace(
        cancellations=cancellations,
        redis=redis,
        outage=SimpleNamespace(down_since=lambda: NOW if down else None),
        settings=SimpleNamespace(create_settle_seconds=7200, cancellation_dues_poll_seconds=(60,)),
    )


def test_the_oldest_few_are_looked_up_each_on_its_own(redis: redis_lib.Redis) -> None:
    requests = [_unknown(n) for n in range(SETTLE_PER_SWEEP + 3)]
    cancellations = Cancellations(requests, failing={"can-1"})

    sweep_reversals(_ctx(redis, cancellations, down=False))

    assert cancellations.looked == [f"can-{n}" for n in range(SETTLE_PER_SWEEP)]


def test_nothing_is_looked_up_while_digit_is_marked_down(redis: redis_lib.Redis) -> None:
    cancellations = Cancellations([_unknown(0)], failing=set())

    sweep_reversals(_ctx(redis, cancellations, down=True))

    assert cancellations.looked == []
