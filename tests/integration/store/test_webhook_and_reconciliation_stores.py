"""Webhook endpoints, the delivery log and reconciliation results in the ledger (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import redis as redis_lib

from integrator.store import webhooks as webhook_store
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore
from integrator.store.webhooks import UnknownDevice, WebhookStore
from integrator.webhooks.models import DeliveryRecord, InvalidWebhookUrl
from integrator.webhooks.targets import TargetPolicy
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

#: hooks.example resolves to a public address (no DNS in tests)
PUBLIC_DNS = TargetPolicy(resolve=lambda host, port: ["93.184.215.14"])


def _payment(db: Database, n: int) -> str:
    payment = make_payment(
        idempotency_key=f"key-{n}",
        bills=(make_line(bill_id=f"bill-{n}", consumer_code=f"WS/1/{n:06d}"),),
    )
    assert PaymentStore(db).create(payment).outcome.value == "CREATED"
    return payment.id


def _attempt(n: int, outcome: str = "retrying") -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id="d-1",
        event="payment.registered",
        attempt=n,
        at=NOW + timedelta(seconds=n),
        outcome=outcome,
        status_code=500 if outcome != "delivered" else 200,
        error="HTTP 500" if outcome != "delivered" else None,
    )


# --- webhook endpoints ---


def test_a_webhook_is_set_replaced_and_cleared_in_the_ledger(
    db: Database, redis: redis_lib.Redis
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    hooks = WebhookStore(db, clock=lambda: NOW, targets=PUBLIC_DNS)

    first = hooks.set(device.id, "https://hooks.example/a")
    second = hooks.set(device.id, "https://hooks.example/b")

    stored = hooks.get(device.id)
    assert stored == second and stored.secret != first.secret
    assert stored.created_at == NOW and hooks.has(device.id)
    assert hooks.clear(device.id) is True
    assert hooks.get(device.id) is None and not hooks.has(device.id)
    assert hooks.clear(device.id) is False
    assert redis.keys("*webhook*") == []  # nothing of it in Redis


def test_a_webhook_for_a_device_the_ledger_does_not_hold_is_refused(db: Database) -> None:
    with pytest.raises(UnknownDevice):
        WebhookStore(db, targets=PUBLIC_DNS).set("no-such-device", "https://hooks.example/a")


def test_a_webhook_pointing_into_our_network_is_refused_and_not_stored(
    db: Database, redis: redis_lib.Redis
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    internal = WebhookStore(db, targets=TargetPolicy(resolve=lambda host, port: ["10.0.0.7"]))
    for url in ("https://hooks.example/a", "https://169.254.169.254/latest/meta-data/"):
        with pytest.raises(InvalidWebhookUrl):
            internal.set(device.id, url)
    assert internal.get(device.id) is None


# --- the delivery log ---


def test_deliveries_are_read_newest_first_and_only_the_last_n(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_store, "DELIVERY_LOG_LENGTH", 3)
    hooks = WebhookStore(db)
    payment_id, other_id = _payment(db, 1), _payment(db, 2)
    for n in range(1, 5):
        hooks.record(payment_id, _attempt(n))
    hooks.record(payment_id, _attempt(5, "delivered"))
    hooks.record(other_id, _attempt(1))

    log = hooks.deliveries(payment_id)

    assert [r.attempt for r in log] == [5, 4, 3]
    assert log[0] == _attempt(5, "delivered")
    assert [r.attempt for r in hooks.deliveries(other_id)] == [1]
    assert hooks.deliveries("no-such-payment") == []


def test_the_delivery_log_is_append_only(db: Database) -> None:
    hooks = WebhookStore(db)
    payment_id = _payment(db, 1)
    hooks.record(payment_id, _attempt(1))
    with (
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
        db.transaction() as conn,
    ):
        conn.execute("UPDATE webhook_deliveries SET outcome = 'delivered'")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        hooks.record("no-such-payment", _attempt(1))


# --- reconciliation ---


def test_a_flag_is_new_once_and_a_refresh_keeps_when_it_was_raised(db: Database) -> None:
    flags = ReconciliationStore(db)
    payment_id = _payment(db, 1)

    assert flags.flag(
        payment_id, reason="MISSING", digit_payment_id=None, digit_status=None, at=NOW
    )
    later = NOW + timedelta(days=1)
    assert not flags.flag(
        payment_id,
        reason="CANCELLED",
        digit_payment_id="DP-1",
        digit_status="CANCELLED",
        at=later,
        detail={"seen": 2, "when": later},
    )

    flag = flags.get(payment_id)
    assert flag is not None
    assert (flag.reason, flag.digit_payment_id, flag.digit_status) == (
        "CANCELLED",
        "DP-1",
        "CANCELLED",
    )
    assert flag.flagged_at == NOW and flag.checked_at == later
    assert flag.detail == {"seen": 2, "when": str(later)}
    assert flags.is_flagged(payment_id) and flags.count() == 1
    assert flags.clear(payment_id) and not flags.clear(payment_id)
    assert flags.get(payment_id) is None and flags.count() == 0


def test_flagged_ids_are_newest_first_and_paged(db: Database) -> None:
    flags = ReconciliationStore(db)
    ids = [_payment(db, n) for n in range(4)]
    for n, payment_id in enumerate(ids):
        flags.flag(
            payment_id,
            reason="MISSING",
            digit_payment_id=None,
            digit_status=None,
            at=NOW + timedelta(minutes=n),
        )
    newest_first = list(reversed(ids))
    assert flags.flagged_ids() == newest_first
    assert flags.flagged_ids(offset=1, limit=2) == newest_first[1:3]


@pytest.mark.parametrize(
    ("reason", "payment_exists"),
    [("SOMETHING_ELSE", True), ("MISSING", False)],
)
def test_the_ledger_refuses_an_unknown_reason_or_payment(
    db: Database, reason: str, payment_exists: bool
) -> None:
    payment_id = _payment(db, 1) if payment_exists else "no-such-payment"
    with pytest.raises(psycopg.errors.IntegrityError):
        ReconciliationStore(db).flag(
            payment_id, reason=reason, digit_payment_id=None, digit_status=None, at=NOW
        )


def test_the_last_run_is_the_newest_summary_with_its_json_types(db: Database) -> None:
    flags = ReconciliationStore(db)
    assert flags.last_run() == {}
    flags.save_last_run({"checked": 1, "complete": False})
    flags.save_last_run(
        {
            "checked": 3,
            "finished_at_epoch": 1764000000.5,
            "newly_flagged": ["p-1"],
            "complete": True,
            "stopped_by": None,
            "finished_at": NOW,
        }
    )
    assert flags.last_run() == {
        "checked": 3,
        "finished_at_epoch": 1764000000.5,
        "newly_flagged": ["p-1"],
        "complete": True,
        "stopped_by": None,
        "finished_at": str(NOW),
    }


def test_the_last_runs_of_each_kind_and_the_last_complete_ones(db: Database) -> None:
    flags = ReconciliationStore(db)
    assert flags.last_runs() == {} and flags.last_runs(complete_only=True) == {}
    flags.save_last_run({"checked": 1, "complete": True, "finished_at_epoch": 1.0})  # no `run`
    flags.save_last_run({"run": "digit-walk", "complete": True, "finished_at_epoch": 2.0})
    flags.save_last_run({"run": "forward", "complete": False, "stopped_by": "DigitAuthError"})
    # saved before unsearchable scopes made a walk incomplete: still not a complete walk
    flags.save_last_run(
        {"run": "digit-walk", "complete": True, "unsearchable": ["pb.x/TL"], "finished_at_epoch": 3}
    )

    assert flags.last_runs() == {
        "forward": {"run": "forward", "complete": False, "stopped_by": "DigitAuthError"},
        "digit-walk": {
            "run": "digit-walk",
            "complete": True,
            "unsearchable": ["pb.x/TL"],
            "finished_at_epoch": 3,
        },
    }
    assert flags.last_runs(complete_only=True) == {
        "forward": {"checked": 1, "complete": True, "finished_at_epoch": 1.0},
        "digit-walk": {"run": "digit-walk", "complete": True, "finished_at_epoch": 2.0},
    }
