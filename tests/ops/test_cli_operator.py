"""`integrator payments ...` as ops staff use it: an OPS_USERS operator signs in, bulk retries are
shown and confirmed, reasons a retry cannot change are skipped, refusals are audited, and every
time is read and printed in DIGIT_TIMEZONE."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.services import Services
from integrator.settings import Settings
from integrator.store.operator_actions import OperatorActionStore
from tests.ops.conftest import PASSWORDS, make_payment
from tests.ops.test_cli import ALICE, ids_of, run
from tests.ops.test_operations import quarantined_offline

BOB = {"INTEGRATOR_OPERATOR": "bob", "INTEGRATOR_OPERATOR_PASSWORD": PASSWORDS["bob"]}


def paid_elsewhere(services: Services, **overrides: object) -> Payment:
    """A NEEDS_ATTENTION payment whose bill someone else paid in DIGIT."""
    payment = make_payment(services, status=PaymentStatus.PENDING, **overrides)  # type: ignore[arg-type]
    moved = states.transition(
        payment,
        PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="BILL_PAID_ELSEWHERE",
        at=datetime.now(UTC),
        codes=("BILL_ALREADY_PAID",),
    )
    return services.payments_store.save(moved, fence=None)


def status_of(services: Services, payment_id: str) -> PaymentStatus:
    stored = services.payments_store.get(payment_id)
    assert stored is not None
    return stored.status


def test_a_bulk_retry_shows_the_count_and_a_sample_and_does_nothing_when_declined(
    ops_settings: Settings, services: Services
) -> None:
    a = make_payment(services, bill_id="b-1", consumer_code="C-1")
    code, out, err = run(
        ops_settings, "payments", "retry", "--all-needs-attention", env=ALICE, input="n\n"
    )
    assert code == 1  # aborted
    assert "1 to retry, 0 skipped" in err and a.id in err and "Retry 1 payments?" in err
    assert "retried" not in out
    assert status_of(services, a.id) is PaymentStatus.NEEDS_ATTENTION


def test_a_dry_run_changes_nothing(ops_settings: Settings, services: Services) -> None:
    a = make_payment(services, bill_id="b-1", consumer_code="C-1")
    code, _out, err = run(ops_settings, "payments", "retry", a.id, "--dry-run", env=ALICE)
    assert code == 0, err
    assert "1 to retry" in err and "dry run: nothing changed" in err
    assert status_of(services, a.id) is PaymentStatus.NEEDS_ATTENTION


def test_a_retry_that_cannot_help_is_skipped_with_the_reason_and_audited(
    ops_settings: Settings, services: Services
) -> None:
    retryable = make_payment(services, bill_id="b-1", consumer_code="C-1")
    hopeless = paid_elsewhere(services, bill_id="b-2", consumer_code="C-2")
    code, out, err = run(
        ops_settings, "payments", "retry", "--all-needs-attention", "--yes", env=ALICE
    )
    assert code == 0, err
    assert out.splitlines() == [f"{retryable.id}\tretried"]
    assert f"{hopeless.id}\tskipped BILL_PAID_ELSEWHERE" in err
    assert "retried 1, skipped 1 (BILL_PAID_ELSEWHERE: 1)" in err
    assert status_of(services, hopeless.id) is PaymentStatus.NEEDS_ATTENTION

    # asked for by id, it is refused, and the refusal is in the audit
    code, _out, err = run(ops_settings, "payments", "retry", hopeless.id, "--yes", env=ALICE)
    assert code == 1 and "skipped BILL_PAID_ELSEWHERE" in err
    done = OperatorActionStore(services.db).for_payment(retryable.id)
    assert [(x.operator, x.via, x.action, x.outcome) for x in done] == [
        ("alice", "cli", "retry", "done")
    ]


def test_the_operator_must_be_an_ops_account_with_its_password(
    ops_settings: Settings, services: Services
) -> None:
    a = make_payment(services, bill_id="b-1")
    wrong = {"INTEGRATOR_OPERATOR": "alice", "INTEGRATOR_OPERATOR_PASSWORD": "not-it"}
    code, _, err = run(ops_settings, "payments", "retry", a.id, "--yes", env=wrong)
    assert code == 1 and "not an ops account of OPS_USERS, or wrong password" in err
    code, _, err = run(
        ops_settings, "payments", "retry", a.id, "--yes", "--operator", "carol", env=wrong
    )
    assert code == 1 and "carol: not an ops account" in err
    assert status_of(services, a.id) is PaymentStatus.NEEDS_ATTENTION


def test_the_operator_is_asked_for_when_not_in_the_environment(
    ops_settings: Settings, services: Services
) -> None:
    a = make_payment(services, bill_id="b-1")
    code, out, err = run(
        ops_settings,
        "payments",
        "retry",
        a.id,
        env={"INTEGRATOR_OPERATOR": "", "INTEGRATOR_OPERATOR_PASSWORD": ""},
        input=f"alice\n{PASSWORDS['alice']}\ny\n",
    )
    assert code == 0, err
    assert "Ops account" in err and PASSWORDS["alice"] not in out + err
    assert out.splitlines() == [f"{a.id}\tretried"]


def test_a_viewer_is_refused_and_the_refusal_is_audited(
    ops_settings: Settings, services: Services
) -> None:
    a = make_payment(services, bill_id="b-1")
    code, _, err = run(ops_settings, "payments", "retry", a.id, "--yes", env=BOB)
    assert code == 1 and "bob is a viewer" in err
    refused = [x for x in OperatorActionStore(services.db).recent() if x.operator == "bob"]
    assert [(x.action, x.outcome, x.code) for x in refused] == [
        ("retry", "refused", "ROLE_MAY_NOT_ACT")
    ]


def test_a_refused_resolution_is_audited(ops_settings: Settings, services: Services) -> None:
    a = make_payment(services, bill_id="b-1")
    code, _, err = run(
        ops_settings,
        "payments",
        "resolve",
        a.id,
        "--as",
        "RECEIPTED_BY_HAND",
        "--receipt",
        "NO/SUCH/RECEIPT",
        "--note",
        "by hand",
        env=ALICE,
    )
    assert code == 1 and "RECEIPT_NOT_FOUND" in err
    [action] = OperatorActionStore(services.db).for_payment(a.id)
    assert (action.action, action.outcome, action.code) == (
        "resolve",
        "refused",
        "RECEIPT_NOT_FOUND",
    )


def test_from_and_to_are_days_in_digit_timezone_as_printed(
    ops_settings: Settings, services: Services
) -> None:
    # 20:00 UTC on the 20th is 01:30 on the 21st in Asia/Kolkata
    late = make_payment(
        services, bill_id="b-1", created_at=datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    )

    code, out, err = run(
        ops_settings, "payments", "list", "--from", "2026-11-21", "--to", "2026-11-21"
    )
    assert code == 0, err
    assert ids_of(out) == [late.id]
    assert out.splitlines()[1].startswith("2026-11-21 01:30:00\t")
    assert "times in Asia/Kolkata (DIGIT_TIMEZONE)" in err

    code, out, _ = run(ops_settings, "payments", "list", "--to", "2026-11-20")
    assert ids_of(out) == []

    code, _, err = run(ops_settings, "payments", "list", "--from", "21-11-2026")
    assert code == 2 and "from: a date as YYYY-MM-DD" in err


def test_list_filters_by_reason_city_service_device_and_mode(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("counter-7", ["pb.amritsar"])
    cash = make_payment(services, bill_id="b-1", consumer_code="C-1", device_id=device.id)
    card = make_payment(
        services,
        bill_id="b-2",
        consumer_code="C-2",
        payment_mode="CARD",
        tenant_id="pb.jalandhar",
        business_service="PT",
    )
    elsewhere = paid_elsewhere(services, bill_id="b-3", consumer_code="C-3")

    def listed(*filters: str) -> list[str]:
        code, out, err = run(ops_settings, "payments", "list", *filters)
        assert code == 0, err
        return ids_of(out)

    assert listed("--device", "counter-7") == [cash.id]
    assert listed("--mode", "CARD") == [card.id]
    assert listed("--tenant", "pb.jalandhar") == [card.id]
    assert listed("--tenant", "pb") == [elsewhere.id, card.id, cash.id]
    assert listed("--service", "PT") == [card.id]
    assert listed("--reason", "BILL_PAID_ELSEWHERE") == [elsewhere.id]
    _code, out, _ = run(ops_settings, "payments", "list", "--device", "counter-7")
    assert "\tcounter-7\t" in out.splitlines()[1]


def test_show_prints_a_readable_view_with_the_device_name_and_the_mobile_masked(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("counter-9", ["pb.amritsar"])
    payment = make_payment(services, bill_id="b-1", device_id=device.id)
    code, out, err = run(ops_settings, "payments", "show", payment.id)
    assert code == 0, err
    assert "9876543210" not in out and "mobile ******3210" in out
    assert "device       counter-9" in out
    assert "times in     Asia/Kolkata (DIGIT_TIMEZONE)" in out
    assert "needs attention because DIGIT_REJECTED" in out
    assert "History" in out
    assert not out.lstrip().startswith("{")
    json.loads(run(ops_settings, "payments", "show", payment.id, "--json")[1])


def test_the_settlement_report_names_devices_and_shows_times_in_digit_timezone(
    ops_settings: Settings, services: Services
) -> None:
    device, _key = services.devices.add("counter-5", ["pb.amritsar"])
    made = make_payment(
        services,
        bill_id="b-1",
        device_id=device.id,
        created_at=datetime(2026, 11, 20, 20, 0, tzinfo=UTC),  # the 21st in Kolkata
    )
    code, out, err = run(
        ops_settings, "reports", "settlement", "--date", "2026-11-21", "--device", "counter-5"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["paymentId"], r["deviceId"], r["deviceName"]) for r in rows] == [
        (made.id, device.id, "counter-5")
    ]
    assert rows[0]["acceptedAt"] == "2026-11-21T01:30:00+05:30"
    assert "Asia/Kolkata (SETTLEMENT_TIMEZONE)" in err and "Asia/Kolkata (DIGIT_TIMEZONE)" in err

    code, _, err = run(
        ops_settings, "reports", "settlement", "--date", "2026-11-21", "--device", "nobody"
    )
    assert code == 2 and "no device named 'nobody'" in err


def test_a_quarantined_payment_retried_while_its_consumer_has_an_open_one_is_refused_and_audited(
    ops_settings: Settings, services: Services
) -> None:
    quarantined = quarantined_offline(services, bill_id="bill-served-offline")
    open_payment = make_payment(services)  # NEEDS_ATTENTION on the consumer's current bill

    code, _out, err = run(ops_settings, "payments", "retry", quarantined.id, "--yes", env=ALICE)

    assert code == 1 and "skipped 1 (CONSUMER_HAS_OPEN_PAYMENT: 1)" in err, err
    assert status_of(services, quarantined.id) is PaymentStatus.NEEDS_ATTENTION
    [action] = OperatorActionStore(services.db).for_payment(quarantined.id)
    assert (action.outcome, action.code) == ("refused", "CONSUMER_HAS_OPEN_PAYMENT")
    assert open_payment.id in (action.message or "")


def test_a_dry_run_says_which_retries_the_ledger_would_refuse_as_the_real_run_does(
    ops_settings: Settings, services: Services
) -> None:
    retryable = make_payment(services, bill_id="b-1", consumer_code="C-1")
    bill_taken = quarantined_offline(services, bill_id="b-live")
    payer = make_payment(
        services, bill_id="b-live", consumer_code="C-2", status=PaymentStatus.REGISTERED
    )
    consumer_taken = quarantined_offline(services, bill_id="b-other")
    holder = make_payment(services, bill_id="b-3")  # NEEDS_ATTENTION, open: holds the consumer
    retry = ("payments", "retry", "--all-needs-attention")

    code, _out, err = run(ops_settings, *retry, "--dry-run", env=ALICE)

    assert code == 0, err
    assert "2 to retry, 2 skipped" in err and "dry run: nothing changed" in err
    assert f"{bill_taken.id}\tskipped BILL_HAS_LIVE_PAYMENT: bill b-live" in err
    assert payer.id in err
    assert f"{consumer_taken.id}\tskipped CONSUMER_HAS_OPEN_PAYMENT" in err and holder.id in err
    assert status_of(services, retryable.id) is PaymentStatus.NEEDS_ATTENTION

    code, out, err = run(ops_settings, *retry, "--yes", env=ALICE)

    assert code == 0, err
    assert sorted(out.splitlines()) == sorted([f"{retryable.id}\tretried", f"{holder.id}\tretried"])
    assert "retried 2, skipped 2 (BILL_HAS_LIVE_PAYMENT: 1, CONSUMER_HAS_OPEN_PAYMENT: 1)" in err
    [action] = OperatorActionStore(services.db).for_payment(bill_taken.id)
    assert (action.operator, action.outcome, action.code) == (
        "alice",
        "refused",
        "BILL_HAS_LIVE_PAYMENT",
    )
    assert status_of(services, bill_taken.id) is PaymentStatus.NEEDS_ATTENTION


def test_the_dry_run_refusal_is_the_one_the_ledger_gives(services: Services) -> None:
    """claim_refusal and the real retry's save agree (the same code and words)."""
    from integrator.ops.wiring import build_operations
    from integrator.payments.bulk import claim_refusal
    from integrator.payments.operations import OperationRefused

    quarantined = quarantined_offline(services, bill_id="b-live")
    make_payment(services, bill_id="b-live", consumer_code="C-2", status=PaymentStatus.REGISTERED)
    predicted = claim_refusal(quarantined, services.payments_store)

    try:
        build_operations(services).retry(quarantined.id, operator="alice")
    except OperationRefused as refused:
        assert predicted == (refused.code, refused.message)
    else:
        raise AssertionError("the retry was not refused")


def test_the_settlement_csv_marks_offline_payments_as_the_json_rows_do(
    ops_settings: Settings, services: Services
) -> None:
    online = make_payment(services, bill_id="b-1", consumer_code="C-1")
    offline = quarantined_offline(services, bill_id="b-offline")
    day = datetime.now(ops_settings.settlement_timezone).date().isoformat()

    code, out, err = run(ops_settings, "reports", "settlement", "--date", day)

    assert code == 0, err
    rows = {r["paymentId"]: r for r in csv.DictReader(io.StringIO(out))}
    assert list(rows[online.id])[-2:] == ["offline", "uploadedAt"]
    assert (rows[online.id]["offline"], rows[online.id]["uploadedAt"]) == ("false", "")
    assert rows[offline.id]["offline"] == "true"
    uploaded = datetime.fromisoformat(rows[offline.id]["uploadedAt"])
    assert uploaded.utcoffset() == timedelta(hours=5, minutes=30)  # DIGIT_TIMEZONE
    assert rows[offline.id]["collectedAt"] < rows[offline.id]["uploadedAt"]
