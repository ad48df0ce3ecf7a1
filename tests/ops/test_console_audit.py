"""The console over HTTP: refused actions are audited, the sign-in page explains how to add an
account when there is none, and the payment page names the time zone of every time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask

from integrator.ops import init_ops
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from integrator.store.operator_actions import OperatorActionStore
from tests.ops.conftest import make_payment, signed_in
from tests.support.live_app import serve


def test_a_viewer_s_refused_actions_are_recorded(live: str, services: Services) -> None:
    payment = make_payment(services, bill_id="b-1")
    http, csrf = signed_in(live, "bob")
    for action, data in (("retry", {}), ("resolve", {"resolution": "REFUNDED", "note": "x"})):
        answer = http.post(
            f"{live}/ops/payments/{payment.id}/{action}",
            data={"csrf_token": csrf, **data},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 403
    recorded = OperatorActionStore(services.db).for_payment(payment.id)
    assert [(a.operator, a.via, a.action, a.outcome, a.code) for a in recorded] == [
        ("bob", "console", "resolve", "refused", "ROLE_MAY_NOT_ACT"),
        ("bob", "console", "retry", "refused", "ROLE_MAY_NOT_ACT"),
    ]


def test_an_operator_s_refused_resolution_is_recorded_and_shown_on_the_page(
    live: str, services: Services
) -> None:
    payment = make_payment(services, bill_id="b-1")
    http, csrf = signed_in(live, "alice")
    http.post(
        f"{live}/ops/payments/{payment.id}/resolve",
        data={"csrf_token": csrf, "resolution": "RECEIPTED_BY_HAND", "note": "by hand"},
        timeout=10,
    )
    [action] = OperatorActionStore(services.db).for_payment(payment.id)
    assert (action.operator, action.outcome, action.code) == (
        "alice",
        "refused",
        "RECEIPT_REQUIRED",
    )
    page = http.get(f"{live}/ops/payments/{payment.id}", timeout=10).text
    table = page[page.index('id="operator-actions"') :]
    assert "RECEIPT_REQUIRED" in table and "refused" in table


def test_the_payment_page_labels_its_time_zone(live: str, services: Services) -> None:
    payment = make_payment(services, bill_id="b-1")
    http, _ = signed_in(live, "bob")
    page = http.get(f"{live}/ops/payments/{payment.id}", timeout=10).text
    assert "Times in Asia/Kolkata (DIGIT_TIMEZONE)" in page
    assert "Time (Asia/Kolkata)" in page  # the history's column


@pytest.fixture
def no_accounts(app: Flask, services: Services) -> Iterator[str]:
    bare = Flask("no-accounts")
    init_ops(bare, replace(services, settings=services.settings.with_changes(ops_users=())))
    with serve(bare) as base:
        yield base


def test_with_no_ops_accounts_the_sign_in_page_says_how_to_add_one(no_accounts: str) -> None:
    page = requests.get(f"{no_accounts}/ops/login", timeout=10).text
    assert "No ops accounts are configured" in page
    assert "OPS_USERS" in page and "integrator ops hash-password" in page


def test_with_accounts_the_sign_in_page_does_not_say_there_are_none(live: str) -> None:
    page = requests.get(f"{live}/ops/login", timeout=10).text
    assert 'id="login-form"' in page and "No ops accounts are configured" not in page


def test_the_csv_export_never_hands_a_spreadsheet_a_formula(live: str, services: Services) -> None:
    make_payment(services, bill_id="b-1", idempotency_key='=HYPERLINK("http://x")')
    http, _ = signed_in(live, "bob")
    answer = http.get(f"{live}/ops/payments.csv", timeout=10)
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[1][rows[0].index("idempotency_key")] == '\'=HYPERLINK("http://x")'
    assert rows[1][rows[0].index("device_name")] == "dev-1"  # no such device: its id


def test_the_csv_export_shows_how_a_resolved_payment_was_resolved(
    live: str, services: Services
) -> None:
    refunded = make_payment(services, bill_id="b-2")
    services.payments_store.save(
        states.transition(
            refunded,
            PaymentStatus.RESOLVED,
            actor="operator:alice",
            reason="REFUNDED",
            at=datetime.now(UTC),
        ),
        fence=None,
    )
    waiting = make_payment(services, bill_id="b-1")  # the consumer's next payment
    http, _ = signed_in(live, "bob")

    answer = http.get(f"{live}/ops/payments.csv", timeout=10)

    rows = list(csv.reader(io.StringIO(answer.text)))
    column = rows[0].index("reason_or_resolution")
    shown = {row[rows[0].index("payment_id")]: row[column] for row in rows[1:]}
    # the refunded one once needed attention (DIGIT_REJECTED): the list names its resolution
    assert shown == {waiting.id: "DIGIT_REJECTED", refunded.id: "REFUNDED"}


def test_the_audit_page_lists_refusals_that_name_no_payment(live: str, services: Services) -> None:
    http, csrf = signed_in(live, "alice")
    http.post(f"{live}/ops/payments/bulk-retry", data={"csrf_token": csrf}, timeout=10)
    page = http.get(f"{live}/ops/audit", timeout=10).text
    table = page[page.index('id="audit"') :]
    assert "alice" in table and "bulk-retry" in table and "NOTHING_SELECTED" in table


@pytest.mark.parametrize(
    "path",
    [
        "/ops/payments?from=9999-12-31",
        "/ops/payments?to=9999-12-31",
        "/ops/payments?from=0001-01-01",
        "/ops/cash/?date=9999-12-31",
        "/ops/cash/day.csv?date=9999-12-31&device=pos-1",
    ],
)
def test_a_day_out_of_range_is_refused_on_the_page_not_a_500(live: str, path: str) -> None:
    http, _csrf = signed_in(live, "alice")

    answer = http.get(f"{live}{path}", timeout=10)

    assert answer.status_code < 500, answer.text[:500]
    assert "2000-01-01 to 9999-12-30" in answer.text
