"""Every refused console action is in the operator audit, not only flashed: cancellation
requests and decisions, reconciliation acknowledgements, cash hand-overs and day closes, as a
refused retry or resolve is."""

from __future__ import annotations

import pytest
import requests
from werkzeug.security import generate_password_hash

from integrator.payments.cancellation import Operator
from integrator.services import Services
from integrator.store.operator_actions import OperatorAction, OperatorActionStore
from tests.ops.conftest import PASSWORDS, csrf_of, make_payment
from tests.ops.test_cancellations_browser import registered_pt_payment

CAROL = "carol-password-1"


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    def entry(name: str, role: str, password: str) -> str:
        digest = generate_password_hash(password, method="pbkdf2:sha256:1000")
        return f"{name}:{role}:{digest}"

    return (
        entry("alice", "operator", PASSWORDS["alice"]),
        entry("bob", "viewer", PASSWORDS["bob"]),
        entry("carol", "cashier", CAROL),
    )


def signed_in(base: str, name: str, password: str) -> tuple[requests.Session, str]:
    http = requests.Session()
    page = http.get(f"{base}/ops/login", timeout=10)
    answer = http.post(
        f"{base}/ops/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(page.text)},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:300]
    return http, csrf_of(answer.text)


def seen(action: OperatorAction) -> tuple[str | None, ...]:
    return (action.operator, action.via, action.action, action.outcome, action.code)


def test_refused_cancellation_requests_and_decisions_are_recorded(
    live: str, services: Services
) -> None:
    not_registered = make_payment(services, bill_id="b-1")
    payment_id = registered_pt_payment(live, services)
    asked = services.cancellations.request_by_operator(
        operator=Operator(name="alice", may_act=True), payment_id=payment_id, reason="typo"
    )
    http, csrf = signed_in(live, "alice", PASSWORDS["alice"])

    http.post(
        f"{live}/ops/payments/{not_registered.id}/cancellation",
        data={"csrf_token": csrf, "reason": "wrong consumer"},
        timeout=10,
    )
    for decision in ("approve", "reject"):  # alice asked: a second operator decides
        http.post(
            f"{live}/ops/cancellations/{asked.id}/{decision}",
            data={"csrf_token": csrf, "confirm": "on", "note": "no"},
            timeout=30,
        )

    audit = OperatorActionStore(services.db)
    [request] = audit.for_payment(not_registered.id)
    assert seen(request)[:4] == ("alice", "console", "request_cancellation", "refused")
    assert request.code and request.message and request.detail == {"kind": "CANCEL"}
    decided = audit.for_payment(payment_id)
    assert [seen(a) for a in decided] == [
        ("alice", "console", "reject_cancellation", "refused", "SAME_PERSON"),
        ("alice", "console", "approve_cancellation", "refused", "SAME_PERSON"),
    ]
    assert all(a.detail == {"requestId": asked.id} for a in decided)


def test_a_refused_reconciliation_acknowledgement_is_recorded(
    live: str, services: Services
) -> None:
    http, csrf = signed_in(live, "alice", PASSWORDS["alice"])

    http.post(
        f"{live}/ops/reconciliation/pay_gone/ack",
        data={"csrf_token": csrf, "note": "refunded at the counter"},
        timeout=10,
    )
    http.post(f"{live}/ops/reconciliation/pay_gone/ack", data={"csrf_token": csrf}, timeout=10)

    recent = OperatorActionStore(services.db).recent()
    assert [seen(a) for a in recent] == [
        ("alice", "console", "reconciliation_ack", "refused", "NOTE_REQUIRED"),
        ("alice", "console", "reconciliation_ack", "refused", "FLAG_NOT_FOUND"),
    ]
    assert all(a.detail == {"flagId": "pay_gone"} for a in recent)


def test_refused_cash_hand_overs_and_day_closes_are_recorded(live: str, services: Services) -> None:
    cashier, csrf = signed_in(live, "carol", CAROL)
    viewer, viewer_csrf = signed_in(live, "bob", PASSWORDS["bob"])

    cashier.post(
        f"{live}/ops/cash/handover",
        data={"csrf_token": csrf, "device": "pos-nowhere", "counted": "1200"},
        timeout=10,
    )
    cashier.post(
        f"{live}/ops/cash/handover",
        data={"csrf_token": csrf, "device": "pos-nowhere", "counted": "twelve"},
        timeout=10,
    )
    cashier.post(
        f"{live}/ops/cash/close",
        data={"csrf_token": csrf, "device": "pos-nowhere", "date": "2026-01-05"},
        timeout=10,
    )
    refused = viewer.post(
        f"{live}/ops/cash/close",
        data={"csrf_token": viewer_csrf, "device": "pos-nowhere", "date": "2026-01-05"},
        timeout=10,
    )

    assert refused.status_code == 403
    recent = OperatorActionStore(services.db).recent()
    assert [seen(a) for a in recent] == [
        ("bob", "console", "cash_close", "refused", "ROLE_MAY_NOT_TAKE_CASH"),
        ("carol", "console", "cash_close", "refused", "DEVICE_NOT_FOUND"),
        ("carol", "console", "cash_handover", "refused", "INVALID_AMOUNT"),
        ("carol", "console", "cash_handover", "refused", "DEVICE_NOT_FOUND"),
    ]
    assert recent[1].detail == {"scope": "device", "name": "pos-nowhere", "day": "2026-01-05"}
    assert recent[3].detail == {
        "device": "pos-nowhere",
        "mode": "CASH",
        "counted": "1200",
        "tenantId": "",
    }


@pytest.mark.parametrize("flag_id", ["²", "9" * 30])
def test_an_impossible_flag_id_is_refused_not_a_500(live: str, flag_id: str) -> None:
    http, csrf = signed_in(live, "alice", PASSWORDS["alice"])

    answer = http.post(
        f"{live}/ops/reconciliation/{flag_id}/ack",
        data={"csrf_token": csrf, "note": "looked"},
        timeout=10,
    )

    assert answer.status_code < 500, answer.text[:300]
    assert "no open reconciliation flag" in answer.text
