"""The ops console over real HTTP without a browser: sign-in, cookies, CSRF, roles, start-up."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import flask
import pytest
import requests
from flask import Flask

from integrator.ops import init_ops, secret_key_for
from integrator.payments import states
from integrator.payments.cancellation import CancellationRefused, Operator, RequestState
from integrator.payments.cash_records import Scope
from integrator.payments.days import day_bounds
from integrator.payments.models import PaymentStatus
from integrator.payments.settlement import iter_settlement_rows
from integrator.services import Services
from integrator.settings import Settings, SettingsError
from integrator.store.cash import CashStore
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import PASSWORDS, csrf_of, make_payment, signed_in
from tests.ops.test_cancellations_browser import registered_pt_payment


def test_pages_need_a_signed_in_account(live: str) -> None:
    for path in ("/ops/", "/ops/payments", "/ops/payments/x"):
        answer = requests.get(f"{live}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/ops/login")


def test_session_cookie_is_httponly_samesite_and_scoped_to_ops(live: str) -> None:
    http, _csrf = signed_in(live, "alice")
    cookie = next(c for c in http.cookies if c.name == "integrator_ops")
    assert cookie.path == "/ops"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert not cookie.secure  # OPS_COOKIE_SECURE defaults to false (local, no TLS)


def test_only_the_console_opens_a_session(app: Flask) -> None:
    """Outside the cookie's path (/v1, /metrics) Flask's null session: never built, never set."""
    for path, null in (
        ("/v1/bills", True),
        ("/metrics", True),
        ("/ops/", False),
        ("/ops/payments", False),
    ):
        with app.test_request_context(path):
            opened = app.session_interface.open_session(app, flask.request)
            assert opened is not None
            assert app.session_interface.is_null_session(opened) is null, path


def test_a_wrong_password_is_refused_and_logged_without_the_password(
    live: str, caplog: pytest.LogCaptureFixture
) -> None:
    http = requests.Session()
    page = http.get(f"{live}/ops/login", timeout=10)
    with caplog.at_level(logging.WARNING, logger="integrator.ops"):
        answer = http.post(
            f"{live}/ops/login",
            data={
                "username": "alice",
                "password": "guessed-secret-9",
                "csrf_token": csrf_of(page.text),
            },
            timeout=10,
        )
    assert answer.status_code == 401
    failures = [r for r in caplog.records if r.getMessage() == "ops sign-in failed"]
    assert failures and getattr(failures[0], "user", None) == "alice"
    assert "guessed-secret-9" not in caplog.text


def test_sign_in_attempts_are_rate_limited(live: str, ops_settings: Settings) -> None:
    http = requests.Session()
    token = csrf_of(http.get(f"{live}/ops/login", timeout=10).text)
    codes = [
        http.post(
            f"{live}/ops/login",
            data={"username": "bob", "password": "nope-nope-nope", "csrf_token": token},
            timeout=10,
        ).status_code
        for _ in range(ops_settings.ops_login_attempts_per_minute + 1)
    ]
    assert codes[-1] == 429 and set(codes[:-1]) == {401}


def test_sign_in_without_a_csrf_token_is_refused(live: str) -> None:
    http = requests.Session()
    http.get(f"{live}/ops/login", timeout=10)
    answer = http.post(
        f"{live}/ops/login", data={"username": "alice", "password": PASSWORDS["alice"]}, timeout=10
    )
    assert answer.status_code == 400


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_an_action_without_the_csrf_token_is_refused(
    live: str, services: Services, token: str | None
) -> None:
    payment = make_payment(services, bill_id="b-1")
    http, _csrf = signed_in(live, "alice")
    data = {} if token is None else {"csrf_token": token}

    answer = http.post(
        f"{live}/ops/payments/{payment.id}/retry", data=data, allow_redirects=False, timeout=10
    )

    assert answer.status_code == 400
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_a_viewer_cannot_act(live: str, services: Services) -> None:
    payment = make_payment(services, bill_id="b-1")
    http, csrf = signed_in(live, "bob")

    page = http.get(f"{live}/ops/payments/{payment.id}", timeout=10)
    assert page.status_code == 200 and 'id="retry"' not in page.text
    for action, data in (("retry", {}), ("resolve", {"resolution": "REFUNDED", "note": "x"})):
        answer = http.post(
            f"{live}/ops/payments/{payment.id}/{action}",
            data={"csrf_token": csrf, **data},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 403, action
    answer = http.post(
        f"{live}/ops/payments/retry-matching",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 403
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_signing_out_ends_the_session(live: str) -> None:
    http, csrf = signed_in(live, "alice")
    http.post(f"{live}/ops/logout", data={"csrf_token": csrf}, timeout=10)
    answer = http.get(f"{live}/ops/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302


def test_the_dashboard_shows_counts_and_health(live: str, services: Services) -> None:
    make_payment(services, bill_id="b-1")
    http, _csrf = signed_in(live, "alice")
    page = http.get(f"{live}/ops/", timeout=10).text
    assert 'id="count-NEEDS_ATTENTION"' in page
    assert "Workers alive" in page and "Redis memory" in page and "Reachable" in page


def test_the_dashboard_shows_what_the_account_may_do_per_city(
    live: str, services: Services
) -> None:
    services.digit.ensure_token()  # the roles come with a login
    http, _csrf = signed_in(live, "alice")
    page = http.get(f"{live}/ops/", timeout=10).text
    table = page[
        page.index('id="digit-cities"') : page.index("</table>", page.index('id="digit-cities"'))
    ]
    rows = [r for r in table.split("<tr>") if "<td>" in r]
    nawanshahr = [r for r in rows if "pb.nawanshahr" in r]
    amritsar_ws = [r for r in rows if "pb.amritsar" in r and "<td>WS</td>" in r]
    assert nawanshahr and all('class="good"' not in r for r in nawanshahr)  # no role there
    assert amritsar_ws and 'class="good">yes' in amritsar_ws[0]


def test_missing_secret_key_stops_start_up_outside_sandbox_mode(
    ops_settings: Settings, services: Services
) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        secret_key_for(ops_settings.with_changes(secret_key=None), services.redis)


def test_in_sandbox_mode_every_web_worker_gets_the_same_random_key(
    ops_settings: Settings, services: Services
) -> None:
    sandbox = ops_settings.with_changes(secret_key=None, sandbox_mode=True)
    first = secret_key_for(sandbox, services.redis)
    assert len(first) >= 32 and first != ops_settings.secret_key
    assert secret_key_for(sandbox, services.redis) == first


def test_a_malformed_ops_users_entry_stops_start_up(
    ops_settings: Settings, services: Services
) -> None:
    from dataclasses import replace

    bad = replace(services, settings=ops_settings.with_changes(ops_users=("carol:admin:x$y$z",)))
    with pytest.raises(SettingsError, match="OPS_USERS"):
        init_ops(Flask("t"), bad)


def test_the_css_is_served_locally(live: str) -> None:
    answer = requests.get(f"{live}/ops/static/ops.css", timeout=10)
    assert answer.status_code == 200 and "text/css" in answer.headers["Content-Type"]


def test_the_cancellations_list_shows_by_default_what_still_needs_someone(
    live: str, services: Services, world: Sandbox
) -> None:
    asked = Operator(name="alice", may_act=True)
    decider = Operator(name="carol", may_act=True)
    payment_id = registered_pt_payment(live, services)
    rejected = services.cancellations.request_by_operator(
        operator=asked, payment_id=payment_id, reason="typo"
    )
    services.cancellations.reject(rejected.id, operator=decider)
    unanswered = services.cancellations.request_by_operator(
        operator=asked, payment_id=payment_id, reason="wrong consumer"
    )
    world.faults(hold_workflows=1, hold_seconds=600, gateway_timeout_seconds=0.2)
    with pytest.raises(CancellationRefused):
        services.cancellations.approve(unanswered.id, operator=decider)
    assert services.cancellations.get(unanswered.id).state is RequestState.UNKNOWN
    http, _csrf = signed_in(live, "bob")

    page = http.get(f"{live}/ops/cancellations", timeout=10).text
    everything = http.get(f"{live}/ops/cancellations", params={"state": "ALL"}, timeout=10).text

    assert unanswered.id in page and rejected.id not in page
    assert unanswered.id in everything and rejected.id in everything


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/ops/payments/%00", {}, 404),
        ("/ops/payments/pay%20one", {}, 404),
        ("/ops/cancellations/%00", {}, 404),
        ("/ops/payments", {"consumer": "WS\x00/107"}, 400),
        ("/ops/payments", {"consumer": "WS/107/2019-20/000022"}, 200),
    ],
)
def test_input_no_id_or_text_can_hold_is_a_clear_answer_not_a_500(
    live: str, path: str, params: dict[str, str], status: int
) -> None:
    http, _csrf = signed_in(live, "bob")

    answer = http.get(f"{live}{path}", params=params, timeout=10)

    assert answer.status_code == status, answer.text[:300]


def test_a_nul_in_any_value_of_a_repeated_field_is_refused_before_the_ledger(live: str) -> None:
    http, csrf = signed_in(live, "alice")

    answer = http.post(
        f"{live}/ops/payments/bulk-retry",
        data={"csrf_token": csrf, "ids": ["pay_ok", "pay\x00bad"]},
        timeout=10,
    )

    assert answer.status_code == 400, answer.text[:300]


def _span(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match, f"no #{element_id} on the page"
    return match.group(1)


def test_today_on_the_dashboard_is_the_day_s_settlement_total(
    live: str, services: Services
) -> None:
    now = datetime.now(UTC)
    make_payment(services, bill_id="b-1", status=PaymentStatus.REGISTERED, amount=Decimal(815))
    # DIGIT refused it while the device waited: no money changed hands
    make_payment(services, bill_id="b-2", status=PaymentStatus.REFUSED, amount=Decimal(5000))
    # reversed today: accepted today and given back today, or accepted earlier
    reversed_today = make_payment(
        services, bill_id="b-3", status=PaymentStatus.REGISTERED, amount=Decimal(300)
    )
    reversed_earlier = make_payment(
        services,
        bill_id="b-4",
        status=PaymentStatus.REGISTERED,
        amount=Decimal(200),
        created_at=now - timedelta(days=3),
    )
    for payment, to in (
        (reversed_today, PaymentStatus.CANCELLED),
        (reversed_earlier, PaymentStatus.DISHONOURED),
    ):
        services.payments_store.save(
            states.transition(payment, to, actor="operator:asha", reason="reversed", at=now),
            fence=None,
        )
    tz = services.settings.settlement_timezone
    rows = iter_settlement_rows(services.payments_store, now.astimezone(tz).date(), tz)
    settled = sum((r.amount for r in rows), Decimal(0))
    http, _csrf = signed_in(live, "bob")

    page = http.get(f"{live}/ops/", timeout=10).text

    assert settled == Decimal(615)  # 815 + 300 - 300 - 200; the refused 5000 has no row
    assert _span(page, "today-amount") == "615"
    assert _span(page, "today-count") == "2"  # accepted and not refused
    assert _span(page, "today-reversed") == "-500"
    assert "SETTLEMENT_TIMEZONE" in page and "day-close" in page


def test_today_on_the_dashboard_takes_off_a_refund_as_the_day_close_does(
    live: str, services: Services
) -> None:
    now = datetime.now(UTC)
    make_payment(services, bill_id="b-1", status=PaymentStatus.REGISTERED, amount=Decimal(815))
    refunded = make_payment(services, bill_id="b-2", amount=Decimal(150))
    services.payments_store.save(
        states.transition(
            refunded, PaymentStatus.RESOLVED, actor="operator:asha", reason="REFUNDED", at=now
        ),
        fence=None,
    )
    tz = services.settings.settlement_timezone
    start, end = day_bounds(now.astimezone(tz).date(), now.astimezone(tz).date(), tz)
    day = CashStore(services.db).sums(Scope.CITY, "pb.amritsar", start, end)
    kept_by_day_close = sum((s.collected - s.cancelled for s in day), Decimal(0))
    http, _csrf = signed_in(live, "bob")

    page = http.get(f"{live}/ops/", timeout=10).text

    assert kept_by_day_close == Decimal(815)  # 815 + 150 collected, the 150 refunded
    # the settlement report says the same: the refund is a REVERSAL row on the day it was made
    rows = list(iter_settlement_rows(services.payments_store, now.astimezone(tz).date(), tz))
    assert [(r.entry, r.payment_id, r.amount) for r in rows if r.entry == "REVERSAL"] == [
        ("REVERSAL", refunded.id, Decimal(-150))
    ]
    assert sum((r.amount for r in rows), Decimal(0)) == kept_by_day_close
    assert _span(page, "today-amount") == "815"
    assert _span(page, "today-count") == "2"
    assert _span(page, "today-reversed") == "-150"


@pytest.mark.parametrize("page", ["999999999999999999", "1000001", "0", "-1", "²", "1e3"])
def test_a_page_number_the_list_cannot_reach_is_a_bad_filter_not_a_500(
    live: str, page: str
) -> None:
    http, _csrf = signed_in(live, "bob")

    answer = http.get(f"{live}/ops/payments", params={"page": page}, timeout=10)

    assert answer.status_code == 400, answer.text[:300]
    assert "page: a whole number from 1 to 1000000" in answer.text


def test_the_last_page_number_allowed_is_answered(live: str) -> None:
    http, _csrf = signed_in(live, "bob")

    answer = http.get(f"{live}/ops/payments", params={"page": "1000000"}, timeout=10)

    assert answer.status_code == 200, answer.text[:300]


@pytest.mark.parametrize("refresh", ["²", "99999999999999999999", "1.5"])
def test_an_impossible_refresh_interval_is_a_bad_filter_not_a_500(live: str, refresh: str) -> None:
    http, _csrf = signed_in(live, "bob")

    answer = http.get(f"{live}/ops/payments", params={"refresh": refresh}, timeout=10)

    assert answer.status_code == 400, answer.text[:300]
    assert "refresh: whole seconds" in answer.text


def test_the_bulk_retry_confirmation_counts_a_bill_another_payment_holds_as_skipped(
    live: str, services: Services
) -> None:
    # the save of the retry would meet the one-live-payment-per-bill index: the page that asks
    # "retry N?" must not count it among the N
    from tests.ops.test_operations import quarantined_offline

    retryable = make_payment(services, bill_id="b-1", consumer_code="C-1")
    bill_taken = quarantined_offline(services, bill_id="b-live")
    make_payment(services, bill_id="b-live", consumer_code="C-2", status=PaymentStatus.REGISTERED)
    http, csrf = signed_in(live, "alice")

    page = http.post(
        f"{live}/ops/payments/bulk-retry",
        data={"csrf_token": csrf, "ids": [retryable.id, bill_taken.id]},
        timeout=10,
    ).text

    assert _span(page, "plan-count") == "1" and _span(page, "plan-skipped") == "1"
    assert f"{bill_taken.id}: BILL_HAS_LIVE_PAYMENT" in page
    assert services.payments_store.get(bill_taken.id).status is PaymentStatus.NEEDS_ATTENTION
