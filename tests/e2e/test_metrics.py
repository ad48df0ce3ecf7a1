"""/metrics end to end, and reconciliation against the sandbox over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from integrator.jobs.reconcile import ReconcileWiring, run_reconciliation
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.payments.reconciliation import FLAGGED_EVENT
from integrator.services import Services, services_of
from integrator.settings import Settings
from tests.e2e.conftest import Pos, body_of
from tests.e2e.test_pos_api import WS_RAMESH, current_bill, payment_body
from tests.e2e.test_reports import wired_app

ALERTS = Path(__file__).resolve().parents[2] / "config" / "alerts.yml"


@pytest.fixture
def app(e2e_settings: Settings, redis: Any, sandbox: str) -> Iterator[Flask]:
    app = wired_app(e2e_settings)
    yield app
    services_of(app).redis.close()


def scrape(base: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    response = requests.get(f"{base}/metrics", timeout=10)  # no device key: public
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


def value(
    metrics: dict[str, list[tuple[str, dict[str, str], float]]], sample: str, **labels: str
) -> float:
    return sum(
        v
        for family in metrics.values()
        for name, got, v in family
        if name == sample and labels.items() <= got.items()
    )


def test_metrics_count_a_registered_payment(live: str, pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    assert pos.pay(payment_body([(bill["billId"], Decimal(815))]), key="m-1").status_code == 201

    metrics = scrape(live)

    ws = {"tenant": "pb.amritsar", "service": "WS"}
    assert value(metrics, "integrator_payments_accepted_total", **ws) == 1
    assert value(metrics, "integrator_payments_registered_total", **ws) == 1
    assert value(metrics, "integrator_registration_latency_seconds_count") == 1
    assert value(metrics, "integrator_registration_attempts_count", outcome="REGISTERED") == 1
    assert value(metrics, "integrator_payments", status="REGISTERED") == 1
    assert value(metrics, "integrator_payments", status="PENDING") == 0
    assert value(metrics, "integrator_oldest_pending_age_seconds") == 0
    assert value(metrics, "integrator_digit_token_renewals_total", kind="login") >= 1
    assert (
        value(
            metrics,
            "integrator_digit_requests_total",
            endpoint="collection-services/payments/_create",
            status="200",
        )
        == 1
    )
    # the histogram has no status label: a create an earlier test left running in the
    # background (its device answered 202) may be summed into the shared Redis a moment later,
    # so its count is at least this test's one create (counted exactly by status above)
    assert (
        value(
            metrics,
            "integrator_digit_request_duration_seconds_count",
            endpoint="collection-services/payments/_create",
        )
        >= 1
    )
    assert value(metrics, "integrator_digit_auth_locked") == 0
    assert value(metrics, "integrator_redis_up") == 1
    assert value(metrics, "integrator_redis_used_memory_bytes") > 0
    assert "integrator_workers_alive" in metrics and "integrator_queue_jobs" in metrics


def test_metrics_count_digit_error_codes(live: str, pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    assert pos.pay(payment_body([(bill["billId"], 815)]), key="m-2").status_code == 201
    # paying the same (already paid) bill again is refused before DIGIT's create
    pos.pay(payment_body([(bill["billId"], 815)]), key="m-3")
    metrics = scrape(live)
    assert value(metrics, "integrator_digit_requests_total") > 3


def test_every_alert_rule_uses_a_metric_that_metrics_exports(live: str) -> None:
    exported = set(scrape(live))
    sample_names = {n for family in scrape(live).values() for n, _l, _v in family}
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert rules
    for rule in rules:
        used = set(re.findall(r"\bintegrator_[a-z_]+", rule["expr"]))
        assert used, rule["alert"]
        for name in used:
            # a counter with no samples yet still exports its family (HELP/TYPE lines)
            known = name in sample_names or name.removesuffix("_total") in exported
            assert known, (rule["alert"], name)


# --- reconciliation against the sandbox ---


def registered_copy(services: Services, original_id: str, *, digit_payment_id: str) -> str:
    """A REGISTERED payment stored directly, for the same consumer (on a bill id of its own: the
    ledger holds a bill in one live payment), whose DIGIT payment id is not in DIGIT (this is
    how DIGIT "loses" a payment)."""
    store = services.payments_store
    original = store.get(original_id)
    assert original is not None
    copy = replace(
        original,
        id="pay_" + "f" * 24,
        idempotency_key="lost-1",
        status=PaymentStatus.PENDING,
        history=(),
        version=0,
        registered_at=None,
        create_sent=False,
        targeted_bill_ids=frozenset(),
        digit_payment_id=None,
        bills=tuple(replace(b, bill_id=f"lost-{b.bill_id}") for b in original.bills),
    )
    assert store.create(copy).outcome.value == "CREATED"
    registered = states.transition(
        copy, PaymentStatus.REGISTERED, actor="test", reason="created", at=original.created_at
    )
    store.save(replace(registered, digit_payment_id=digit_payment_id), fence=None)
    return copy.id


def test_reconciliation_flags_a_payment_digit_does_not_hold(
    live: str, pos: Pos, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    healthy = body_of(pos.pay(payment_body([(bill["billId"], 815)]), key="r-1"))["id"]
    lost = registered_copy(services, healthy, digit_payment_id="DIGIT-PAYMENT-THAT-NEVER-WAS")

    report = run_reconciliation(ReconcileWiring.of_services(services))

    assert report.complete and report.checked == 2 and report.healthy == 1
    assert report.newly_flagged == [lost]
    flags = services.reconciliation
    flag = flags.get(lost)
    assert flag is not None and flag.reason == "MISSING"
    assert not flags.is_flagged(healthy)
    stored = services.payments_store.get(lost)
    assert stored is not None and stored.status is PaymentStatus.REGISTERED
    assert stored.history[-1].event == FLAGGED_EVENT
    metrics = scrape(live)
    assert value(metrics, "integrator_payments_flagged") == 1
    assert value(metrics, "integrator_reconciliation_flags_total", reason="MISSING") == 1
    assert value(metrics, "integrator_reconciliation_last_run_timestamp_seconds") > 0
