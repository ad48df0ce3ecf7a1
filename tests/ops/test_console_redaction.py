"""The console shows free text (DIGIT's errors, history reasons and details, notes, refusal
messages) redacted as the CLI shows it: mobile numbers masked, secrets removed."""

from __future__ import annotations

from datetime import UTC, datetime

from integrator.payments import states
from integrator.payments.cancellation import Operator
from integrator.services import Services
from integrator.store.operator_actions import OperatorAction, OperatorActionStore
from tests.ops.conftest import make_payment, signed_in
from tests.ops.test_cancellations_browser import registered_pt_payment

MOBILE = "98765 43210"  # a payer's number, written as people write it
MASKED = "******3210"
TOKEN = "tok-3f9a1c77e2"  # a made-up DIGIT access token
DIGIT_PASSWORD = "sandbox-password"  # the tests' DIGIT_PASSWORD (a registered secret)


def assert_redacted(page: str) -> None:
    assert "9876543210" not in page and MOBILE not in page
    assert TOKEN not in page and DIGIT_PASSWORD not in page
    assert MASKED in page and "[REDACTED]" in page


def test_the_payment_page_redacts_the_error_history_and_operator_actions(
    live: str, services: Services
) -> None:
    now = datetime.now(UTC)
    made = make_payment(
        services,
        bill_id="b-1",
        mobile_number=None,  # the facts' masked mobile would hide a leak below
        last_error=f"DIGIT 400 for mobileNumber {MOBILE}; login with password={DIGIT_PASSWORD}",
    )
    services.payments_store.save(
        states.record(
            made,
            "lookup",
            actor="worker",
            at=now,
            reason=f"payer rang from {MOBILE}",
            detail={"access_token": TOKEN, "heard": f"Authorization: Bearer {TOKEN}"},
        ),
        fence=None,
    )
    OperatorActionStore(services.db).record(
        OperatorAction(
            at=now,
            operator="alice",
            via="cli",
            action="resolve",
            payment_id=made.id,
            outcome="refused",
            code="RECEIPT_REQUIRED",
            message=f"asked by {MOBILE}",
        )
    )
    http, _csrf = signed_in(live, "bob")

    page = http.get(f"{live}/ops/payments/{made.id}", timeout=10).text
    audit = http.get(f"{live}/ops/audit", timeout=10).text

    assert_redacted(page)
    assert MASKED in audit and "9876543210" not in audit and MOBILE not in audit


def test_the_cancellation_pages_redact_the_reason(live: str, services: Services) -> None:
    payment_id = registered_pt_payment(live, services)
    asked = services.cancellations.request_by_operator(
        operator=Operator(name="alice", may_act=True),
        payment_id=payment_id,
        reason=f"payer {MOBILE} paid twice; DIGIT said access_token={TOKEN}",
    )
    http, _csrf = signed_in(live, "bob")

    one = http.get(f"{live}/ops/cancellations/{asked.id}", timeout=10).text
    listed = http.get(f"{live}/ops/cancellations", timeout=10).text
    payment = http.get(f"{live}/ops/payments/{payment_id}", timeout=10).text

    for page in (one, listed, payment):
        assert "9876543210" not in page and MOBILE not in page and TOKEN not in page
        assert MASKED in page
