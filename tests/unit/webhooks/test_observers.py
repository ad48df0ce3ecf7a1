"""Several event observers side by side, and the webhook observer's decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from integrator.observability import events
from integrator.settings import Settings
from integrator.webhooks.models import WebhookEvent
from integrator.webhooks.observer import WebhookObserver

NOW = datetime(2024, 7, 4, 10, 0, tzinfo=UTC)


@dataclass
class FakePayment:
    id: str = "pay_1"
    device_id: str = "dev-1"


class Recording(events.Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def payment_registered(self, payment: Any) -> None:
        self.seen.append(("registered", payment.id))

    def token_renewed(self, kind: str) -> None:
        self.seen.append(("token", kind))


class Exploding(events.Observer):
    def payment_registered(self, payment: Any) -> None:
        raise RuntimeError("boom")

    def flush(self) -> None:
        raise RuntimeError("boom")


def test_a_fan_out_passes_each_event_to_every_observer() -> None:
    metrics, webhooks = Recording(), Recording()
    fan_out = events.FanOut([metrics, webhooks])
    fan_out.payment_registered(FakePayment())  # type: ignore[arg-type]
    fan_out.token_renewed("login")
    assert metrics.seen == webhooks.seen == [("registered", "pay_1"), ("token", "login")]


def test_a_failing_observer_does_not_stop_the_others() -> None:
    after = Recording()
    events.FanOut([Exploding(), after]).payment_registered(FakePayment())  # type: ignore[arg-type]
    assert after.seen == [("registered", "pay_1")]


def test_a_fan_out_flushes_every_observer() -> None:
    flushed: list[str] = []

    class Buffering(events.Observer):
        def __init__(self, name: str) -> None:
            self.name = name

        def flush(self) -> None:
            flushed.append(self.name)

    events.FanOut([Buffering("metrics"), Exploding(), Buffering("other")]).flush()
    assert flushed == ["metrics", "other"]


def test_the_process_observer_counts_metrics_and_asks_for_webhooks() -> None:
    import redis

    from integrator.observability.recorder import RedisMetrics
    from integrator.services import build_observer

    # neither is reached: building an observer connects to nothing
    settings = Settings.from_env(
        {
            "DIGIT_BASE_URL": "http://127.0.0.1:9",
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "u",
            "DIGIT_PASSWORD": "p",
            "DIGIT_TENANT_ID": "pb.amritsar",
        },
        dotenv=False,
    )
    observer = build_observer(None, redis.Redis(port=1), settings)  # type: ignore[arg-type]
    assert isinstance(observer, events.FanOut)
    assert [type(o) for o in observer.observers] == [RedisMetrics, WebhookObserver]


@dataclass
class FakeEndpoints:
    with_webhook: set[str] = field(default_factory=lambda: {"dev-1"})

    def has(self, device_id: str) -> bool:
        return device_id in self.with_webhook


@dataclass
class FakeScheduler:
    asked: list[tuple[str, WebhookEvent, datetime]] = field(default_factory=list)
    fail: bool = False

    def enqueue(self, *, payment_id: str, event: WebhookEvent, occurred_at: datetime) -> bool:
        if self.fail:
            raise ConnectionError("redis went away")
        self.asked.append((payment_id, event, occurred_at))
        return True


def test_webhook_observer_enqueues_each_event_for_a_device_with_a_webhook() -> None:
    scheduler = FakeScheduler()
    observer = WebhookObserver(endpoints=FakeEndpoints(), scheduler=scheduler, clock=lambda: NOW)
    observer.payment_registered(FakePayment())  # type: ignore[arg-type]
    observer.payment_needs_attention(FakePayment(id="pay_2"))  # type: ignore[arg-type]
    observer.payment_accepted(FakePayment(id="pay_3"))  # type: ignore[arg-type]
    assert scheduler.asked == [
        ("pay_1", WebhookEvent.REGISTERED, NOW),
        ("pay_2", WebhookEvent.NEEDS_ATTENTION, NOW),
    ]


def test_webhook_observer_ignores_devices_without_a_webhook() -> None:
    scheduler = FakeScheduler()
    observer = WebhookObserver(endpoints=FakeEndpoints(set()), scheduler=scheduler)
    observer.payment_registered(FakePayment())  # type: ignore[arg-type]
    assert scheduler.asked == []


def test_webhook_observer_never_raises() -> None:
    observer = WebhookObserver(endpoints=FakeEndpoints(), scheduler=FakeScheduler(fail=True))
    observer.payment_registered(FakePayment())  # type: ignore[arg-type]


def test_a_reversed_payment_is_announced_as_cancelled_or_dishonoured() -> None:
    from integrator.payments.models import PaymentStatus
    from tests.unit.payments.payment_factories import make_payment

    scheduler = FakeScheduler()
    observer = WebhookObserver(endpoints=FakeEndpoints(), scheduler=scheduler, clock=lambda: NOW)
    observer.payment_reversed(make_payment(id="pay_c", status=PaymentStatus.CANCELLED))
    observer.payment_reversed(make_payment(id="pay_d", status=PaymentStatus.DISHONOURED))
    assert scheduler.asked == [
        ("pay_c", WebhookEvent.CANCELLED, NOW),
        ("pay_d", WebhookEvent.DISHONOURED, NOW),
    ]


def test_a_resolved_payment_is_announced_and_passed_on_by_the_fan_out() -> None:
    scheduler = FakeScheduler()
    observer = WebhookObserver(endpoints=FakeEndpoints(), scheduler=scheduler, clock=lambda: NOW)
    events.FanOut([events.Observer(), observer]).payment_resolved(FakePayment(id="pay_r"))  # type: ignore[arg-type]
    assert scheduler.asked == [("pay_r", WebhookEvent.RESOLVED, NOW)]
    assert WebhookEvent.RESOLVED.value == "payment.resolved"


def test_one_resolved_delivery_job_per_payment() -> None:
    from integrator.jobs.webhooks import job_id_for

    ids = {job_id_for("pay_r", event) for event in WebhookEvent}
    assert job_id_for("pay_r", WebhookEvent.RESOLVED) == "webhook-pay_r-resolved"
    assert len(ids) == len(WebhookEvent)  # no event's job takes another's id
