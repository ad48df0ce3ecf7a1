"""The console's Cash page and forms over real HTTP (requests, no browser), as a cashier uses them:
what a cashier sees of a payment reversed after its hand-over."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from werkzeug.security import generate_password_hash

from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.ops import conftest as ops
from tests.ops.conftest import AMRITSAR, make_payment, signed_in

CAROL = "carol-password-1"


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    def entry(name: str, role: str, password: str) -> str:
        digest = generate_password_hash(password, method="pbkdf2:sha256:1000")
        return f"{name}:{role}:{digest}"

    return (
        entry("carol", "cashier", CAROL),
        entry("alice", "operator", ops.PASSWORDS["alice"]),
        entry("bob", "viewer", ops.PASSWORDS["bob"]),
    )


@pytest.fixture(autouse=True)
def carol_signs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ops.PASSWORDS, "carol", CAROL)


def test_a_cheque_dishonoured_after_its_hand_over_shows_as_the_cashiers_on_the_cash_page(
    live: str, services: Services
) -> None:
    device, _key = services.devices.add("field-8", [AMRITSAR])
    cheque = make_payment(
        services,
        status=PaymentStatus.REGISTERED,
        device_id=device.id,
        payment_mode="CHEQUE",
        instrument_number="123456",
        instrument_date=datetime.now(UTC).date(),
    )
    services.cash.handover(device_name="field-8", counted={"CHEQUE": Decimal(815)}, cashier="carol")
    stored = services.payments_store.get(cheque.id)
    assert stored is not None
    bounced = states.transition(
        stored, PaymentStatus.DISHONOURED, actor="op", reason="bounced", at=datetime.now(UTC)
    )
    services.payments_store.save(bounced, fence=None)

    http, _csrf = signed_in(live, "carol")
    page = http.get(f"{live}/ops/cash/", params={"device": "field-8"}, timeout=10)

    assert page.status_code == 200
    reversals = page.text.split('id="reversals-after-handover"')[1].split("</table>")[0]
    assert cheque.id in reversals and "DISHONOURED" in reversals and "815" in reversals
    in_hand = page.text.split('id="in-hand"')[1].split("</table>")[0]
    assert "-815" not in in_hand and "Nothing." in in_hand


@pytest.mark.parametrize("counted", ["NaN", "sNaN", "Infinity", "-Infinity", "1e30", "12.345"])
def test_a_counted_amount_that_is_no_amount_is_refused_on_the_form_not_a_500(
    live: str, services: Services, counted: str
) -> None:
    device, _key = services.devices.add("field-9", [AMRITSAR])
    make_payment(services, status=PaymentStatus.REGISTERED, device_id=device.id)
    http, csrf = signed_in(live, "carol")
    form = {"csrf_token": csrf, "device": "field-9", "mode": "CASH", "reason": "x"}

    sent = http.post(
        f"{live}/ops/cash/handover",
        data={**form, "counted": counted},
        timeout=10,
        allow_redirects=False,
    )

    assert sent.status_code == 302, sent.text  # back to the form, as every refusal there
    page = http.get(f"{live}{sent.headers['Location']}", timeout=10)
    assert "INVALID_AMOUNT: CASH: counted" in page.text
    assert services.cash.in_hand_by_mode(device.id) == {"CASH": Decimal(815)}  # nothing recorded


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_a_hand_over_by_someone_who_is_no_cashier_gets_the_console_s_html_refusal(
    live: str, who: str
) -> None:
    http, csrf = signed_in(live, who)

    answer = http.post(
        f"{live}/ops/cash/handover",
        data={"csrf_token": csrf, "device": "field-1", "mode": "CASH", "counted": "100"},
        allow_redirects=False,
        timeout=10,
    )

    assert answer.status_code == 403
    assert answer.headers["Content-Type"].startswith("text/html")  # not the API's problem+json
    assert 'id="error-description"' in answer.text
    assert "Only a cashier records hand-overs" in answer.text
    assert f"{who} (" in answer.text  # the console's page, signed in
