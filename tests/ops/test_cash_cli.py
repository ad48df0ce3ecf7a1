"""`integrator cash ...` and `integrator reports day-close` as a cashier uses them: amounts that
are no amount are usage errors naming the option; reasons are printed with mobile numbers masked;
only a cashier closes a day, as in the console."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from werkzeug.security import generate_password_hash

from integrator.payments.cash_records import Scope
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from integrator.settings import Settings
from integrator.store.operator_actions import OperatorActionStore
from tests.ops import conftest as ops
from tests.ops.conftest import AMRITSAR, RAMESH_MOBILE, make_payment
from tests.ops.test_cli import ALICE, run
from tests.ops.test_cli_operator import BOB

CAROL = {"INTEGRATOR_OPERATOR": "carol", "INTEGRATOR_OPERATOR_PASSWORD": "carol-password-1"}


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    def entry(name: str, role: str, password: str) -> str:
        digest = generate_password_hash(password, method="pbkdf2:sha256:1000")
        return f"{name}:{role}:{digest}"

    return (
        entry("carol", "cashier", CAROL["INTEGRATOR_OPERATOR_PASSWORD"]),
        entry("alice", "operator", ops.PASSWORDS["alice"]),
        entry("bob", "viewer", ops.PASSWORDS["bob"]),
    )


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1e30", "-1", "12.345"])
def test_a_hand_over_of_no_amount_is_a_usage_error_naming_the_option(
    ops_settings: Settings, services: Services, amount: str
) -> None:
    services.devices.add("field-9", [AMRITSAR])
    code, out, err = run(
        ops_settings, "cash", "handover", "--device", "field-9", "--amount", f"cash={amount}",
        env=CAROL,
    )  # fmt: skip
    assert code == 2, (out, err)
    assert "Invalid value for --amount CASH: INVALID_AMOUNT" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--cash-cap", "--offline-cash-limit"])
@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e30", "-1"])
def test_a_limit_of_no_amount_is_a_usage_error_naming_the_option(
    ops_settings: Settings, services: Services, option: str, amount: str
) -> None:
    services.devices.add("field-9", [AMRITSAR])
    code, out, err = run(ops_settings, "cash", "limits", "--device", "field-9", option, amount)
    assert code == 2, (out, err)
    assert f"Invalid value for {option}: INVALID_AMOUNT" in err
    device = services.devices.get_by_name("field-9")
    assert device is not None and services.cash.limits(device).cash_in_hand_cap is None


def test_day_close_prints_hand_over_reasons_with_the_mobile_masked_as_the_hand_over_does(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("field-9", [AMRITSAR])
    make_payment(services, status=PaymentStatus.REGISTERED, device_id=device.id)
    reason = f"payer {RAMESH_MOBILE} pays the 15 tomorrow"
    code, out, err = run(
        ops_settings, "cash", "handover", "--device", "field-9", "--amount", "CASH=800",
        "--reason", reason, env=CAROL,
    )  # fmt: skip
    assert code == 0, err
    assert "shortfall 15" in out and RAMESH_MOBILE not in out

    code, out, err = run(
        ops_settings, "reports", "day-close", "--date", _today(ops_settings), "--device", "field-9"
    )

    assert code == 0, err
    [handover] = json.loads(out)["handovers"]
    assert handover["reason"] == "payer ******3210 pays the 15 tomorrow"
    assert handover["at"].endswith("+05:30")  # DIGIT_TIMEZONE, as every printed time
    assert json.loads(out)["timezone"] == "Asia/Kolkata (DIGIT_TIMEZONE)"
    assert RAMESH_MOBILE not in out


@pytest.mark.parametrize(("who", "env"), [("alice", ALICE), ("bob", BOB)])
def test_only_a_cashier_closes_a_day_from_the_cli_as_in_the_console(
    ops_settings: Settings, services: Services, who: str, env: dict[str, str]
) -> None:
    device, _key = services.devices.add("field-9", [AMRITSAR])
    yesterday = date.fromisoformat(_today(ops_settings)) - timedelta(days=1)
    close = ("reports", "day-close", "--date", yesterday.isoformat(), "--device", "field-9")

    code, _out, err = run(ops_settings, *close, "--close", env=env)

    assert code == 1 and f"CASHIER_REQUIRED: {who} is not" in err
    assert services.cash_store.closed_day(Scope.DEVICE, device.id, yesterday) is None
    code, out, err = run(ops_settings, *close, "--close", env=CAROL)
    assert code == 0, err
    assert json.loads(out)["closedBy"] == "carol"
    assert json.loads(out)["closedAt"].endswith("+05:30")


def _today(settings: Settings) -> str:
    return datetime.now(settings.settlement_timezone).date().isoformat()


NO_SIGN_IN = {"INTEGRATOR_OPERATOR": "", "INTEGRATOR_OPERATOR_PASSWORD": ""}


def test_setting_a_limit_needs_an_operator_and_is_in_the_audit(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("field-9", [AMRITSAR])
    limits = ("cash", "limits", "--device", "field-9", "--cash-cap", "300")

    code, _out, err = run(ops_settings, *limits, env=NO_SIGN_IN, input="\n")
    assert code == 1, err
    code, _out, err = run(ops_settings, *limits, env=CAROL)  # a cashier counts, never sets
    assert code == 1 and "carol is a cashier: only an operator sets limits" in err
    assert services.cash.limits(device).cash_in_hand_cap is None

    code, out, err = run(ops_settings, *limits, env=ALICE)

    assert code == 0, err
    assert json.loads(out)["cashInHandCap"] == 300
    actions = [a for a in OperatorActionStore(services.db).recent() if a.action == "cash_limits"]
    assert [(a.operator, a.via, a.outcome, a.code) for a in actions] == [
        ("alice", "cli", "done", None),
        ("carol", "cli", "refused", "ROLE_MAY_NOT_ACT"),
    ]
    assert actions[0].detail == {"device": "field-9", "set": {"cash-cap": "300"}, "reset": []}


def test_setting_one_limit_leaves_the_others_and_reset_drops_one(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("field-9", [AMRITSAR])
    limits = ("cash", "limits", "--device", "field-9")

    assert run(ops_settings, *limits, "--offline-cash-limit", "5000", env=ALICE)[0] == 0
    code, out, err = run(ops_settings, *limits, "--cash-cap", "300", env=ALICE)

    assert code == 0, err
    shown = json.loads(out)
    assert (shown["offlineCashLimit"], shown["cashInHandCap"]) == (5000, 300)
    code, out, err = run(ops_settings, *limits, "--reset", "offline-cash-limit", env=ALICE)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["offlineCashLimit"] == ops_settings.offline_cash_limit
    assert shown["cashInHandCap"] == 300
    assert services.cash.limits(device).cash_in_hand_cap == 300

    code, _out, err = run(
        ops_settings, *limits, "--cash-cap", "1", "--reset", "cash-cap", env=ALICE
    )
    assert code == 2 and "--cash-cap is both set and --reset" in err
    code, _out, err = run(ops_settings, *limits, env=ALICE)
    assert code == 2 and "name a limit to set" in err


def test_a_hand_over_names_an_unknown_mode_and_takes_paise(
    ops_settings: Settings, services: Services
) -> None:
    services.devices.add("field-9", [AMRITSAR])
    handover = ("cash", "handover", "--device", "field-9", "--amount")

    code, _out, err = run(ops_settings, *handover, "FOO=10", env=CAROL)
    assert code == 2, err
    assert "UNKNOWN_PAYMENT_MODE: 'FOO' is not a payment mode" in err

    # 10.5 is an amount (whole paise): this device simply holds no cash
    code, _out, err = run(ops_settings, *handover, "CASH=10.5", env=CAROL)
    assert code == 1 and "NOTHING_TO_HAND_OVER" in err
