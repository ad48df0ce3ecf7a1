"""`integrator cash ...` and `integrator reports day-close` as a cashier uses them: amounts that
are no amount are usage errors naming the option; reasons are printed with mobile numbers masked;
only a cashier closes a day, as in the console."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from integrator.services import Services
from integrator.settings import Settings
from tests.ops import conftest as ops
from tests.ops.conftest import AMRITSAR
from tests.ops.test_cli import run

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
