"""`integrator payments cancel` and `integrator payments cancellation ...` with OPS_USERS
accounts: asked by one operator, approved by another against the sandbox; unknown names,
viewers and the requester are refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from werkzeug.security import generate_password_hash

from integrator import cli
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from integrator.settings import Settings
from tests.e2e.conftest import Sandbox
from tests.integration.cancellation.conftest import Device, pay


@pytest.fixture
def cli_settings(cancel_settings: Settings) -> Settings:
    def entry(name: str, role: str) -> str:
        return f"{name}:{role}:{generate_password_hash('pw-' + name, method='pbkdf2:sha256:1000')}"

    return cancel_settings.with_changes(
        ops_users=(entry("asha", "operator"), entry("ravi", "operator"), entry("vic", "viewer"))
    )


def run(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The CLI as the named operator (`--operator NAME`) signs in: its password from the
    environment, as a script would give it."""
    named = list(args)
    who = named[named.index("--operator") + 1] if "--operator" in named else ""
    env = {"INTEGRATOR_OPERATOR_PASSWORD": f"pw-{who}"}
    result = CliRunner().invoke(cli.main, named, obj=settings, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_one_operator_asks_another_approves_and_digit_cancels(
    cli_settings: Settings, device: Device, services: Services, world: Sandbox
) -> None:
    paid = pay(device.pos)

    code, out, err = run(
        cli_settings, "payments", "cancel", paid["id"], "--reason", "Wrong amount", "--operator",
        "asha",
    )  # fmt: skip
    assert code == 0, err
    request_id, payment_id, action, state = out.strip().split("\t")
    assert (payment_id, action, state) == (paid["id"], "CANCEL", "REQUESTED")

    code, out, err = run(cli_settings, "payments", "cancellation", "list", "--state", "requested")
    assert code == 0 and request_id in out and "operator:asha" in out
    assert out.split("\t")[0].endswith("+05:30") and "times in Asia/Kolkata" in err

    for who, refusal in (("asha", "SAME_PERSON"), ("vic", "NOT_ALLOWED"), ("nobody", "OPS_USERS")):
        code, _out, err = run(
            cli_settings, "payments", "cancellation", "approve", request_id, "--operator", who
        )
        assert code == 1 and refusal in err, err
    assert world.counters().get("workflow_cancel", 0) == 0

    code, out, err = run(
        cli_settings, "payments", "cancellation", "approve", request_id, "--operator", "ravi"
    )
    assert code == 0, err
    assert out.strip().split("\t") == [request_id, paid["id"], "DONE"]
    stored = services.payments_store.get(paid["id"])
    assert stored is not None and stored.status is PaymentStatus.CANCELLED

    code, out, err = run(cli_settings, "payments", "cancellation", "show", request_id)
    shown = json.loads(out)
    assert shown["decidedBy"] == "operator:ravi" and shown["requestedBy"] == "operator:asha"
    assert shown["timezone"] == "Asia/Kolkata (DIGIT_TIMEZONE)"
    assert shown["requestedAt"].endswith("+05:30") and shown["decidedAt"].endswith("+05:30")
    assert shown["digitAnswer"]["paymentStatus"] == "CANCELLED"


def test_a_viewer_cannot_ask_and_a_rejection_needs_another_operator(
    cli_settings: Settings, device: Device, world: Sandbox
) -> None:
    paid = pay(device.pos)
    code, _out, err = run(
        cli_settings, "payments", "cancel", paid["id"], "--reason", "x", "--operator", "vic"
    )
    assert code == 1 and "NOT_ALLOWED" in err

    code, out, err = run(
        cli_settings, "payments", "cancel", paid["id"], "--reason", "x", "--operator", "ravi"
    )
    request_id = out.split("\t")[0]
    code, out, err = run(
        cli_settings, "payments", "cancellation", "reject", request_id, "--operator", "asha",
        "--note", "the amount was right",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip().endswith("REJECTED")
    assert world.counters().get("workflow_cancel", 0) == 0


@pytest.mark.parametrize(
    "command",
    [
        ("payments", "cancellation", "list"),
        ("payments", "cancellation", "show", "{request}"),
        ("payments", "show", "{payment}"),
        ("payments", "show", "{payment}", "--json"),
    ],
)
def test_a_reason_naming_a_mobile_number_is_shown_masked(
    cli_settings: Settings, device: Device, command: tuple[str, ...]
) -> None:
    paid = pay(device.pos)
    code, out, err = run(
        cli_settings, "payments", "cancel", paid["id"], "--reason",
        "Payer on +91 98765 43210 paid twice", "--operator", "asha",
    )  # fmt: skip
    assert code == 0, err
    request_id = out.split("\t")[0]

    args = [a.format(request=request_id, payment=paid["id"]) for a in command]
    code, out, err = run(cli_settings, *args)

    assert code == 0, err
    assert "paid twice" in out
    assert "43210" not in out and "98765" not in out
