"""The metric catalog, the recorder's bucket arithmetic and config/alerts.yml (no I/O)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from integrator.observability import catalog, events
from integrator.observability.recorder import bucket_for, bucket_label, field_name

ALERTS = Path(__file__).resolve().parents[2] / "config" / "alerts.yml"


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alerts_yaml_parses_into_named_rules_with_severity() -> None:
    rules = alert_rules()
    assert {"PaymentsNeedAttention", "PendingPaymentTooOld", "DigitAuthLocked", "NoLiveWorker"} <= {
        r["alert"] for r in rules
    }
    for rule in rules:
        assert rule["expr"] and rule["labels"]["severity"] in {"warning", "critical"}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_uses_only_metrics_the_catalog_exports(rule: dict[str, Any]) -> None:
    used = set(re.findall(r"\bintegrator_[a-z_]+", rule["expr"]))
    assert used and used <= catalog.exported_names()


def test_reconciliation_not_running_watches_the_last_complete_run_of_each_kind() -> None:
    # a run that finishes incomplete every day (DIGIT login broken) must not keep it quiet
    [rule] = [r for r in alert_rules() if r["alert"] == "ReconciliationNotRunning"]
    assert re.findall(r"\bintegrator_[a-z_]+", rule["expr"]) == [
        catalog.RECONCILIATION_LAST_COMPLETE_RUN.name
    ]
    assert "by (run)" in rule["expr"] and catalog.RECONCILIATION_LAST_COMPLETE_RUN.labels == (
        "run",
    )


def test_metric_names_are_unique_and_prometheus_safe() -> None:
    names = [f.name for f in catalog.ALL]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"integrator_[a-z_]+", n) for n in names)
    assert all(f.buckets == tuple(sorted(f.buckets)) for f in catalog.ALL)


@pytest.mark.parametrize(
    ("observed", "bucket"),
    [(0.0, "0.05"), (0.05, "0.05"), (0.06, "0.1"), (30.0, "30.0"), (31.0, "+Inf")],
)
def test_an_observation_falls_in_the_first_bucket_that_holds_it(
    observed: float, bucket: str
) -> None:
    assert bucket_for(catalog.DIGIT_LATENCY, observed) == bucket


def test_bucket_labels_and_fields() -> None:
    assert bucket_label(float("inf")) == "+Inf" and bucket_label(1) == "1.0"
    assert field_name(["pb.amritsar", "WS"]) == '["pb.amritsar","WS"]'
    assert field_name(["x"], "+sum") == '["x","+sum"]'


def test_the_base_observer_counts_nothing_and_never_raises() -> None:
    observer = events.Observer()
    observer.digit_call("x", "200", 0.1, ["CODE"])  # nothing to reach: no error
    observer.token_renewed("login")
    observer.flush()
