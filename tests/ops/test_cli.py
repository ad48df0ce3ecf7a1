"""`integrator payments ...`, `integrator queue status`, `integrator ops hash-password`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash

from integrator import cli
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from integrator.settings import Settings
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import PASSWORDS, counter_payment, make_payment

ALICE = {"INTEGRATOR_OPERATOR": "alice", "INTEGRATOR_OPERATOR_PASSWORD": PASSWORDS["alice"]}


def run(
    settings: Settings, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args), obj=settings, env=env, input=input)
    return result.exit_code, result.stdout, result.stderr


def ids_of(out: str) -> list[str]:
    """The payment ids of `payments list` output (its first line is the header)."""
    lines = out.splitlines()
    assert lines[0].startswith("created\tpayment"), lines[:1]
    return [line.split("\t")[1] for line in lines[1:]]


def test_payments_list_filters_and_pages(ops_settings: Settings, services: Services) -> None:
    made = [make_payment(services, bill_id=f"b-{i}", tenant_id=f"pb.t{i}") for i in range(3)]

    code, out, err = run(
        ops_settings, "payments", "list", "--status", "NEEDS_ATTENTION", "--limit", "2"
    )
    assert code == 0, err
    assert ids_of(out) == [made[2].id, made[1].id]
    assert "3 payments match; page 1 of 2" in err and "older: --page 2" in err

    code, out, err = run(
        ops_settings,
        "payments",
        "list",
        "--status",
        "NEEDS_ATTENTION",
        "--limit",
        "2",
        "--page",
        "2",
    )
    assert ids_of(out) == [made[0].id]
    assert "newer: --page 1" in err and "older:" not in err

    code, out, _ = run(ops_settings, "payments", "list", "--bill", "b-1")
    assert ids_of(out) == [made[1].id]


def test_payments_show_json_prints_the_history_with_the_mobile_masked(
    ops_settings: Settings, services: Services
) -> None:
    payment = make_payment(services, bill_id="b-1")
    code, out, err = run(ops_settings, "payments", "show", payment.id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["id"] == payment.id
    assert shown["history"][-1]["reason"] == "DIGIT_REJECTED"
    assert shown["mobile_number"] == "******3210" and "9876543210" not in out
    assert shown["timezone"] == "Asia/Kolkata (DIGIT_TIMEZONE)"  # every printed time is in it
    assert shown["created_at"].endswith("+05:30") and shown["history"][-1]["at"].endswith("+05:30")

    code, _, err = run(ops_settings, "payments", "show", "no-such-payment")
    assert code == 1 and "NOT_FOUND" in err


def test_payments_retry_records_the_operator(ops_settings: Settings, services: Services) -> None:
    payment = make_payment(services, bill_id="b-1")
    code, _out, err = run(ops_settings, "payments", "retry", payment.id, "--yes", env=ALICE)
    assert code == 0, err
    stored = services.payments_store.get(payment.id)
    assert stored is not None and stored.status is PaymentStatus.PENDING
    assert stored.history[-1].actor == "operator:alice"


def test_payments_retry_all_needs_attention_of_a_filter(
    ops_settings: Settings, services: Services
) -> None:
    a = make_payment(services, bill_id="b-1", consumer_code="C-1")
    b = make_payment(services, bill_id="b-2", consumer_code="C-2")
    code, out, err = run(
        ops_settings,
        "payments",
        "retry",
        "--all-needs-attention",
        "--consumer",
        "C-1",
        "--yes",
        env=ALICE,
    )
    assert code == 0, err
    assert out.splitlines() == [f"{a.id}\tretried"]
    assert services.payments_store.get(b.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_payments_resolve_refunded_is_refused_while_digit_holds_our_payment(
    ops_settings: Settings, services: Services, world: Sandbox
) -> None:
    payment = make_payment(services)
    services.digit.create_payment(services.registrar.digit_request(payment))  # ours, in DIGIT
    code, _, err = run(
        ops_settings,
        "payments",
        "resolve",
        payment.id,
        "--as",
        "REFUNDED",
        "--note",
        "cash back",
        env=ALICE,
    )
    assert code == 1 and "DIGIT_HOLDS_PAYMENT" in err


def test_payments_resolve_receipted_by_hand(
    ops_settings: Settings, services: Services, world: Sandbox
) -> None:
    payment = make_payment(services)
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]
    code, out, err = run(
        ops_settings,
        "payments",
        "resolve",
        payment.id,
        "--as",
        "RECEIPTED_BY_HAND",
        "--receipt",
        receipt,
        "--note",
        "counter",
        env=ALICE,
    )
    assert code == 0, err
    assert out.strip() == f"{payment.id}\tRESOLVED\tRECEIPTED_BY_HAND"


def test_queue_status_reports_no_worker_with_exit_1(
    ops_settings: Settings, services: Services
) -> None:
    make_payment(services, bill_id="b-1", status=PaymentStatus.PENDING)
    code, out, _ = run(ops_settings, "queue", "status")
    report = json.loads(out)
    assert code == 1
    assert report["workers"] == [] and report["queued"] == 0
    assert report["oldest_pending_at"] is not None and report["redis_memory"]
    assert report["timezone"] == "Asia/Kolkata (DIGIT_TIMEZONE)"
    assert report["oldest_pending_at"].endswith("+05:30")


def test_ops_hash_password_makes_a_werkzeug_hash() -> None:
    result = CliRunner().invoke(
        cli.main, ["ops", "hash-password"], input="a-long-password\na-long-password\n"
    )
    assert result.exit_code == 0, result.output
    digest = result.stdout.strip().splitlines()[-1]
    assert check_password_hash(digest, "a-long-password")
    assert "a-long-password" not in result.stdout.replace(digest, "")


def test_payments_list_refuses_a_page_beyond_the_bound_naming_the_option(
    ops_settings: Settings, services: Services
) -> None:
    code, _out, err = run(ops_settings, "payments", "list", "--page", "999999999999999999")

    assert code == 2, err
    assert "--page" in err and "1000000" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["bad name!", ".hidden", "tab\tname", "x" * 101, "a/b"])
def test_devices_add_refuses_a_name_that_is_not_one_plain_word(
    ops_settings: Settings, services: Services, name: str
) -> None:
    code, out, err = run(ops_settings, "devices", "add", name, "--tenant", "pb.amritsar")
    assert code == 2, (out, err)
    assert "a device name is 1-100 letters, digits" in err
    assert services.devices.get_by_name(name) is None


def test_devices_add_refuses_a_tenant_digit_does_not_know(
    ops_settings: Settings, services: Services
) -> None:
    code, out, err = run(ops_settings, "devices", "add", "counter-7", "--tenant", "pb.nosuchcity")
    assert code == 2, (out, err)
    assert "UNKNOWN_TENANT: pb.nosuchcity is not a city or state" in err
    code, out, err = run(ops_settings, "devices", "add", "counter-7", "--tenant", "zz")
    assert code == 2 and "UNKNOWN_TENANT: zz" in err
    assert services.devices.get_by_name("counter-7") is None

    # a known city, and a state written in capitals (tenant ids are lower case)
    code, out, err = run(
        ops_settings, "devices", "add", "counter_7.b", "--tenant", "pb.jalandhar", "--tenant", "PB"
    )
    assert code == 0, err
    assert out.startswith("device counter_7.b (") and "for pb, pb.jalandhar" in out
