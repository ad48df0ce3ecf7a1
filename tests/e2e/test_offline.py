"""Offline collection and the collector's day, end to end: the integrator and the DIGIT sandbox
over real HTTP, a real ledger and Redis, real `integrator worker` processes registering what an
upload accepted, and the `integrator` command line for hand-overs and day closes."""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from openapi_schema_validator import OAS30Validator

from integrator import cli, jsonutil
from integrator.digit.errors import DigitErrorDetail, DigitRejected
from integrator.ops.accounts import hash_password
from integrator.payments.day_close import DayClose, DayCloseRefused
from integrator.payments.models import PaymentStatus
from integrator.payments.use_cases import IdempotencyKeyReused, RequestInFlight
from integrator.services import Services
from integrator.settings import Settings
from integrator.store.cash import Scope
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.sandbox.conftest import Digit
from tests.support.workers import worker_processes

AMRITSAR = "pb.amritsar"
PT_RAMESH = "PT-107-000123"  # Ramesh, Amritsar: property tax
WS_RAMESH = "WS/107/2019-20/000022"  # 815 due; part payment (min 100) and advance allowed
SW_RAMESH = "SW/107/2019-20/000011"  # 315 due
TL_AMRITSAR = "PB-TL-2024-07-04-002271"  # 1500 due; exact amount only
DEVICE = "pos-amritsar-1"  # the `pos` fixture's device
#: The ops account that sets limits (`integrator cash limits` needs an operator).
OPERATOR = ("operator1", "pw-operator-1")


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    return offline_settings(settings)


def offline_settings(settings: Settings) -> Settings:
    """Short DIGIT timeouts and leases; a cashier and an operator in OPS_USERS."""
    return settings.with_changes(
        digit_read_timeout=2.0,
        registration_budget_seconds=3.0,
        lease_ttl_seconds=3.0,
        ops_users=(
            f"cashier1:cashier:{hash_password('pw-cashier-1')}",
            f"{OPERATOR[0]}:operator:{hash_password(OPERATOR[1])}",
        ),
    )


@pytest.fixture
def worker(
    e2e_settings: Settings, redis_url: str, sandbox: str, database_url: str, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "DATABASE_URL": database_url,
        "DIGIT_BASE_URL": sandbox,
        "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
        "DIGIT_PASSWORD": "sandbox-password",
        "DIGIT_TENANT_ID": AMRITSAR,
        "REDIS_URL": redis_url,
        "DIGIT_CONNECT_TIMEOUT": "0.5",
        "DIGIT_READ_TIMEOUT": "2",
        "LEASE_TTL_SECONDS": "3",
        "RETRY_SCHEDULE_SECONDS": "1,2",
        "SWEEPER_PERIOD_SECONDS": "1",
        "DIGIT_PROBE_SECONDS": "0.5",
        "WORKER_MAINTENANCE_SECONDS": "5",
    }
    with worker_processes(env, tmp_path) as start:
        yield start()


def published(pos: Pos, schema: str, answer: requests.Response) -> requests.Response:
    """`answer`, after checking it against `schema` of the integrator's own /openapi.json."""
    document = requests.get(f"{pos.base}/openapi.json", timeout=10).json()
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    OAS30Validator(root).validate(answer.json())
    return answer


def upload(pos: Pos, items: list[dict[str, Any]]) -> requests.Response:
    """POST /v1/payments/batch; an answer of 200 is checked against the published schema."""
    answer = requests.post(
        f"{pos.base}/v1/payments/batch",
        data=jsonutil.dumps({"payments": items}),
        headers=pos.headers(),
        timeout=60,
    )
    return published(pos, "BatchAnswer", answer) if answer.status_code == 200 else answer


def device_me(pos: Pos, what: str) -> Any:
    """GET /v1/devices/me/limits or /cash, checked against the published schema."""
    answer = pos.get(f"/v1/devices/me/{what}")
    assert answer.status_code == 200, answer.text
    return body_of(published(pos, {"limits": "DeviceLimits", "cash": "DeviceCash"}[what], answer))


def item(
    key: str, bill: dict[str, Any], amount: Any, *, hours_ago: float = 1, mode: str = "CASH"
) -> dict[str, Any]:
    collected = datetime.now(UTC) - timedelta(hours=hours_ago)
    return {
        "idempotencyKey": key,
        "tenantId": AMRITSAR,
        "paymentMode": mode,
        "paidBy": "Ramesh Kumar",
        "collectedAt": collected.isoformat(),
        "bills": [{"billId": bill["billId"], "amount": amount}],
    }


def bill_of(pos: Pos, consumer: str, service: str) -> dict[str, Any]:
    bills = pos.bills(tenantId=AMRITSAR, businessService=service, consumerCode=consumer)
    assert len(bills) == 1, bills
    return bills[0]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def run(settings: Settings, *args: str) -> tuple[int, str]:
    """(exit code, stdout; with stderr after it when the command failed). The cashier's
    password comes from the environment, as a script gives it; `cash limits` runs signed in
    as the operator."""
    env = {"INTEGRATOR_OPERATOR_PASSWORD": "pw-cashier-1"}
    if args[:2] == ("cash", "limits"):
        env = {"INTEGRATOR_OPERATOR": OPERATOR[0], "INTEGRATOR_OPERATOR_PASSWORD": OPERATOR[1]}
    result = CliRunner().invoke(cli.main, list(args), obj=settings, env=env)
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def by_key(answer: requests.Response) -> dict[str, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {entry["idempotencyKey"]: entry for entry in body_of(answer)["payments"]}


# --- offline batches ---


def test_a_batch_after_an_outage_registers_what_is_payable_and_quarantines_what_was_paid_elsewhere(
    pos: Pos, world: Sandbox, services: Services, worker: Any
) -> None:
    ws, sw, tl = (
        bill_of(pos, WS_RAMESH, "WS"),
        bill_of(pos, SW_RAMESH, "SW"),
        bill_of(pos, TL_AMRITSAR, "TL"),
    )
    # while the device had no signal, the trade licence was paid at the counter
    world.admin(
        "counter-payment", tenantId=AMRITSAR, businessService="TL", consumerCode=TL_AMRITSAR
    )

    answer = by_key(
        upload(pos, [item("off-1", ws, 815), item("off-2", sw, 315), item("off-3", tl, 1500)])
    )

    assert answer["off-1"]["outcome"] == answer["off-2"]["outcome"] == "accepted"
    assert answer["off-3"]["outcome"] == "quarantined"
    assert answer["off-3"]["conflict"]["code"] == "BILL_ALREADY_PAID"
    quarantined = services.payments_store.get(answer["off-3"]["payment"]["id"])
    assert quarantined is not None
    assert quarantined.status is PaymentStatus.NEEDS_ATTENTION
    assert quarantined.needs_attention_reason == "OFFLINE_CONFLICT"
    assert quarantined.total_amount == Decimal(1500)  # the money taken is on the ledger
    for key in ("off-1", "off-2"):
        pid = answer[key]["payment"]["id"]
        wait_for(lambda pid=pid: _status(services, pid) is PaymentStatus.REGISTERED)
    assert len(world.payments_for_bill(ws["billId"])) == 1
    assert len(world.payments_for_bill(sw["billId"])) == 1
    assert len(world.payments_for_bill(tl["billId"])) == 1  # the counter's only
    # the settlement report shows when each was collected and when it reached us
    report = body_of(pos.get("/v1/reports/settlement", date=_today(services)))
    rows = {r["paymentId"]: r for r in report["rows"]}
    offline_row = rows[answer["off-1"]["payment"]["id"]]
    assert offline_row["offline"] is True
    assert offline_row["collectedAt"] < offline_row["uploadedAt"]
    # the CSV download carries the same marks, in columns appended at the end
    download = pos.get("/v1/reports/settlement", date=_today(services), format="csv")
    records = {r["paymentId"]: r for r in csv.DictReader(io.StringIO(download.text))}
    offline_record = records[answer["off-1"]["payment"]["id"]]
    assert list(offline_record)[-2:] == ["offline", "uploadedAt"]
    assert offline_record["offline"] == "true"
    assert offline_record["collectedAt"] < offline_record["uploadedAt"]


def test_the_same_batch_uploaded_twice_changes_nothing(
    pos: Pos, world: Sandbox, services: Services, worker: Any
) -> None:
    ws, tl = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, TL_AMRITSAR, "TL")
    world.admin(
        "counter-payment", tenantId=AMRITSAR, businessService="TL", consumerCode=TL_AMRITSAR
    )
    batch = [item("twice-1", ws, 500), item("twice-2", tl, 1500)]

    first = by_key(upload(pos, batch))
    pid = first["twice-1"]["payment"]["id"]
    wait_for(lambda: _status(services, pid) is PaymentStatus.REGISTERED)
    counts = services.payments_store.count_by_status()
    second = by_key(upload(pos, batch))

    for key in ("twice-1", "twice-2"):
        assert second[key]["payment"]["id"] == first[key]["payment"]["id"]
        assert second[key]["outcome"] == first[key]["outcome"]
        assert second[key]["replayed"] is True and first[key]["replayed"] is False
    assert services.payments_store.count_by_status() == counts
    assert len(world.payments_for_bill(ws["billId"])) == 1
    # the same key for another payment is refused, the rest of the batch still answered
    changed = by_key(upload(pos, [item("twice-1", ws, 600), item("twice-3", ws, 100)]))
    assert changed["twice-1"]["outcome"] == "refused"
    assert changed["twice-1"]["problem"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert changed["twice-3"]["outcome"] == "quarantined"  # the bill is paid by twice-1


def test_a_batch_over_the_age_limit_quarantines_what_is_too_old(
    pos: Pos, services: Services, worker: Any
) -> None:
    limits = device_me(pos, "limits")
    assert limits["offlineMaxAgeSeconds"] == 72 * 3600
    ws, sw = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, SW_RAMESH, "SW")

    answer = by_key(
        upload(pos, [item("old-1", ws, 815, hours_ago=80), item("old-2", sw, 315, hours_ago=70)])
    )

    assert answer["old-1"]["outcome"] == "quarantined"
    assert answer["old-1"]["conflict"]["code"] == "COLLECTED_TOO_LONG_AGO"
    assert answer["old-2"]["outcome"] == "accepted"
    old = services.payments_store.get(answer["old-1"]["payment"]["id"])
    assert old is not None and old.status is PaymentStatus.NEEDS_ATTENTION
    # a malformed item is refused on its own; a batch over the maximum is refused whole
    malformed = by_key(upload(pos, [{"idempotencyKey": "bad-1", "tenantId": AMRITSAR}]))
    assert malformed["bad-1"]["outcome"] == "refused"
    # an item collected before 2000 is refused on collectedAt (it overflowed once stored)
    ancient = {**item("ancient-1", ws, 100), "collectedAt": "0001-01-01T00:00:00+05:30"}
    refused = by_key(upload(pos, [ancient]))["ancient-1"]
    assert refused["outcome"] == "refused"
    assert (refused["problem"]["field"], refused["problem"]["code"]) == (
        "collectedAt",
        "INVALID_DATETIME",
    )
    too_many = upload(pos, [item(f"many-{i}", ws, 100) for i in range(int(limits["batchMax"]) + 1)])
    assert too_many.status_code == 422
    assert body_of(too_many)["code"] == "BATCH_SIZE_OUT_OF_RANGE"


# --- the collector's cash ---


def test_the_cash_cap_refuses_cash_until_a_hand_over_releases_it(
    pos: Pos, services: Services, e2e_settings: Settings
) -> None:
    code, out = run(e2e_settings, "cash", "limits", "--device", DEVICE, "--cash-cap", "1000")
    assert code == 0, out
    assert device_me(pos, "limits")["cashInHandCap"] == Decimal(1000)
    ws, sw = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, SW_RAMESH, "SW")
    first = pos.pay(_payment(ws, 815), key="cap-1")
    assert first.status_code in (201, 202), first.text

    refused = pos.pay(_payment(sw, 315), key="cap-2")
    checked = pos.validate(_payment(sw, 315))

    assert refused.status_code == 422
    assert body_of(refused)["code"] == "CASH_IN_HAND_CAP_REACHED"
    assert checked.status_code == 422, checked.text  # validate runs the checks POST runs
    assert body_of(checked)["code"] == "CASH_IN_HAND_CAP_REACHED"
    assert pos.pay(_payment(ws, 815), key="cap-1").status_code == 200  # a replay is not refused
    cash = device_me(pos, "cash")
    assert cash["byMode"] == [{"paymentMode": "CASH", "amount": Decimal(815)}]

    code, out = run(
        e2e_settings, "cash", "handover", "--device", DEVICE, "--amount", "CASH=815",
        "--cashier", "cashier1",
    )  # fmt: skip
    assert code == 0, out
    assert device_me(pos, "cash")["byMode"] == []
    again = pos.pay(_payment(sw, 315), key="cap-2")
    assert again.status_code in (201, 202), again.text


def test_a_shortfall_on_hand_over_needs_a_reason_and_shows_on_the_day(
    pos: Pos, services: Services, e2e_settings: Settings
) -> None:
    ws = bill_of(pos, WS_RAMESH, "WS")
    assert pos.pay(_payment(ws, 815), key="short-1").status_code in (201, 202)
    handover = ("cash", "handover", "--device", DEVICE, "--amount", "CASH=800")

    code, out = run(e2e_settings, *handover, "--cashier", "cashier1")
    assert code == 1 and "REASON_REQUIRED" in out
    code, out = run(e2e_settings, *handover, "--cashier", "nobody", "--reason", "x")
    assert code == 1 and "nobody: not an ops account of OPS_USERS" in out
    code, out = run(e2e_settings, *handover, "--cashier", "cashier1", "--reason", "torn note")
    assert code == 0 and "shortfall 15" in out

    code, out = run(
        e2e_settings, "reports", "day-close", "--date", _today(services), "--device", DEVICE
    )
    assert code == 0, out
    figures = jsonutil.loads(out)
    [cash] = figures["modes"]
    assert cash["collected"] == Decimal(815) and cash["handedOver"] == Decimal(800)
    assert cash["difference"] == Decimal(-15) and cash["outstanding"] == Decimal(0)
    assert figures["handovers"][0]["reason"] == "torn note"
    assert device_me(pos, "cash")["byMode"] == []


def test_a_day_is_closed_once_and_keeps_its_figures(
    pos: Pos, services: Services, e2e_settings: Settings
) -> None:
    ws = bill_of(pos, WS_RAMESH, "WS")
    assert pos.pay(_payment(ws, 815), key="close-1").status_code in (201, 202)
    today = _today(services)
    code, out = run(e2e_settings, "reports", "day-close", "--date", today, "--device", DEVICE,
                    "--close", "--operator", "cashier1")  # fmt: skip
    assert code == 1 and "DAY_NOT_OVER" in out
    # the same ledger, seen from tomorrow
    tomorrow = DayClose(
        store=services.cash_store,
        devices=services.devices.get_by_name,
        timezone=e2e_settings.settlement_timezone,
        clock=lambda: datetime.now(UTC) + timedelta(days=1),
    )
    device_id = tomorrow.scope_id(Scope.DEVICE, DEVICE)
    day = datetime.fromisoformat(today).date()
    closed = tomorrow.close(Scope.DEVICE, device_id, day, closed_by="cashier1")
    assert closed.figures["totals"]["collected"] == Decimal(815)

    with pytest.raises(DayCloseRefused) as refused:
        tomorrow.close(Scope.DEVICE, device_id, day, closed_by="cashier1")
    assert refused.value.code == "DAY_ALREADY_CLOSED"
    # a hand-over made after the close does not change the closed day's figures
    code, out = run(e2e_settings, "cash", "handover", "--device", DEVICE, "--amount", "CASH=815",
                    "--cashier", "cashier1")  # fmt: skip
    assert code == 0, out
    code, out = run(e2e_settings, "reports", "day-close", "--date", today, "--device", DEVICE,
                    "--format", "csv")  # fmt: skip
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0].startswith("scope,scopeId,date,tenantId,paymentMode,collected")
    assert lines[1].split(",")[5] == "815" and lines[1].split(",")[10] == "0"  # handedOver
    assert lines[1].endswith(",true")
    code, out = run(e2e_settings, "reports", "day-close", "--date", today, "--tenant", AMRITSAR)
    assert code == 0 and jsonutil.loads(out)["totals"]["collected"] == Decimal(815)


def _payment(bill: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "tenantId": AMRITSAR,
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "bills": [{"billId": bill["billId"], "amount": amount}],
    }


def _status(services: Services, payment_id: str) -> PaymentStatus | None:
    payment = services.payments_store.get(payment_id)
    return None if payment is None else payment.status


def _today(services: Services) -> str:
    return datetime.now(services.settings.settlement_timezone).date().isoformat()


def test_a_bill_replaced_with_the_same_total_is_paid_on_its_successor(
    pos: Pos, world: Sandbox, services: Services, worker: Any
) -> None:
    tl = bill_of(pos, TL_AMRITSAR, "TL")
    world.admin("clock", advance_seconds=20 * 86400)  # the bill expired; its successor is the same

    answer = by_key(upload(pos, [item("moved-1", tl, 1500)]))["moved-1"]

    assert answer["outcome"] == "accepted", answer
    pid = answer["payment"]["id"]
    wait_for(lambda: _status(services, pid) is PaymentStatus.REGISTERED)
    payment = services.payments_store.get(pid)
    assert payment is not None
    (bill,) = payment.bills
    # moved at upload (DIGIT already said superseded) or by the worker (DIGIT refused BILL_EXPIRED)
    moved = services.offline_store.marks([pid])[pid].detail.get("retargeted")
    assert bill.bill_id != tl["billId"]
    assert bill.retargeted_from == tl["billId"] or moved[0]["from"] == tl["billId"]
    assert len(world.payments_for_bill(bill.bill_id)) == 1
    assert world.payments_for_bill(tl["billId"]) == []


def test_a_payment_moved_to_a_successor_bill_replays_even_if_the_upload_died_after_storing_it(
    pos: Pos, world: Sandbox, sandbox: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    tl = bill_of(pos, TL_AMRITSAR, "TL")
    world.admin("clock", advance_seconds=20 * 86400)  # the bill expired; its successor is the same
    clerk = Digit(sandbox)  # a clerk's fetch makes DIGIT generate the successor meanwhile
    assert clerk.login().status_code == 200
    assert clerk.bill(TL_AMRITSAR, "TL")["id"] != tl["billId"]

    def died(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    sent = item("crash-1", tl, 1500)
    # whatever the upload writes after the payment's own transaction does not happen
    with monkeypatch.context() as crash:
        crash.setattr(services.offline_store, "mark", died)
        first = upload(pos, [sent])
    again = by_key(upload(pos, [sent]))["crash-1"]

    assert again["outcome"] == "accepted", again["problem"]
    assert again["replayed"] is True
    pid = again["payment"]["id"]
    if first.status_code == 200:
        assert by_key(first)["crash-1"]["payment"]["id"] == pid
    payment = services.payments_store.get(pid)
    assert payment is not None and payment.bills[0].bill_id != tl["billId"]
    mark = services.offline_store.marks([pid])[pid]
    assert mark.detail["retargeted"][0]["from"] == tl["billId"]
    # the key stays bound to what the device sent: another request under it is still refused
    other = by_key(upload(pos, [{**sent, "paidBy": "Someone Else"}]))["crash-1"]
    assert other["problem"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def _successor_refused(services: Services, error: Exception) -> Callable[[Any], None]:
    """Make the acceptance on the successor bill raise `error` (what a second upload of the
    same item at the same moment, or DIGIT, answers)."""

    def inject(monkeypatch: pytest.MonkeyPatch) -> None:
        accept = services.payments.accept_payment

        def accept_payment(**kwargs: Any) -> Any:
            offline = kwargs.get("offline")
            if offline is not None and "retargeted" in offline.detail:
                raise error
            return accept(**kwargs)

        monkeypatch.setattr(services.payments, "accept_payment", accept_payment)

    return inject


def _digit_refuses_fetch(services: Services) -> Callable[[Any], None]:
    def inject(monkeypatch: pytest.MonkeyPatch) -> None:
        def fetch_bills(**_kwargs: Any) -> Any:
            raise DigitRejected(
                "refused", status=400, errors=[DigitErrorDetail(code="EG_BS_API_ERROR")]
            )

        monkeypatch.setattr(services.digit, "fetch_bills", fetch_bills)

    return inject


@pytest.mark.parametrize(
    ("failure", "code", "retry_after"),
    [
        ("in flight", "REQUEST_IN_FLIGHT", 1),
        ("key reused", "IDEMPOTENCY_KEY_REUSED", None),
        ("digit refuses", "DIGIT_REJECTED", None),
    ],
)
def test_one_items_failure_is_its_own_answer_and_the_batch_still_answers_every_item(
    pos: Pos,
    world: Sandbox,
    sandbox: str,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    code: str,
    retry_after: int | None,
) -> None:
    ws, tl = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, TL_AMRITSAR, "TL")
    world.admin("clock", advance_seconds=20 * 86400)  # the bill expired; its successor is the same
    clerk = Digit(sandbox)  # a clerk's fetch makes DIGIT generate the successor meanwhile
    assert clerk.login().status_code == 200
    assert clerk.bill(TL_AMRITSAR, "TL")["id"] != tl["billId"]
    inject = {
        "in flight": _successor_refused(services, RequestInFlight(retry_after=1)),
        "key reused": _successor_refused(services, IdempotencyKeyReused("pay_other")),
        "digit refuses": _digit_refuses_fetch(services),
    }[failure]
    inject(monkeypatch)
    # stored first (collected too long ago: quarantined without asking DIGIT), then the failure
    batch = [item("first-1", ws, 815, hours_ago=80), item("moved-1", tl, 1500)]

    answer = by_key(upload(pos, batch))

    assert answer["first-1"]["outcome"] == "quarantined"
    assert services.payments_store.get(answer["first-1"]["payment"]["id"]) is not None
    refused = answer["moved-1"]
    assert (refused["outcome"], refused["payment"]) == ("refused", None)
    assert refused["problem"]["code"] == code
    assert refused["problem"]["retryAfter"] == retry_after
    device = services.devices.get_by_name(DEVICE)
    assert device is not None
    assert services.payments_store.get_by_idempotency(device.id, "moved-1") is None


@pytest.mark.parametrize(
    ("path", "hours_ago"),
    [("too old", 80), ("over the offline cash limit", 1), ("not found in the city now", 1)],
)
def test_a_bill_of_another_city_is_refused_never_quarantined(
    pos: Pos,
    other_pos: Pos,
    services: Services,
    e2e_settings: Settings,
    path: str,
    hours_ago: float,
) -> None:
    # a state-level device was served a Jalandhar bill (so we hold its snapshot); a device of
    # Amritsar only uploads a payment in Amritsar against it
    jalandhar = pos.bills(
        tenantId="pb.jalandhar", businessService="WS", consumerCode="WS/1013/2019-20/000101"
    )[0]
    if path == "over the offline cash limit":
        code, out = run(
            e2e_settings, "cash", "limits", "--device", "pos-amritsar-2",
            "--offline-cash-limit", "1",
        )  # fmt: skip
        assert code == 0, out
    sent = item("elsewhere-1", jalandhar, jalandhar["totalAmount"], hours_ago=hours_ago)

    answer = by_key(upload(other_pos, [sent]))["elsewhere-1"]

    assert answer["outcome"] == "refused", answer
    assert (answer["problem"]["code"], answer["problem"]["field"]) == (
        "BILL_NOT_FOUND",
        "bills/0/billId",
    )
    device = services.devices.get_by_name("pos-amritsar-2")
    assert device is not None
    assert services.payments_store.get_by_idempotency(device.id, "elsewhere-1") is None


def test_a_bill_replaced_with_another_total_is_quarantined_saying_what_changed(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    tl = bill_of(pos, TL_AMRITSAR, "TL")
    world.admin("new-demand", tenantId=AMRITSAR, businessService="TL", consumerCode=TL_AMRITSAR)

    answer = by_key(upload(pos, [item("grown-1", tl, 1500)]))["grown-1"]

    assert answer["outcome"] == "quarantined", answer
    [change] = answer["conflict"]["bills"]
    assert change["servedTotal"] == Decimal(1500)
    assert change["currentTotal"] > change["servedTotal"]
    assert change["currentBillId"] != tl["billId"]
    fields = {v["field"] for v in answer["conflict"]["violations"]}
    assert fields and all("[" not in f for f in fields if f), fields  # bills/0/..., not bills[0]
    # an operator's retry registers it against DIGIT as it is, or leaves it for a person
    stored = services.payments_store.get(answer["payment"]["id"])
    assert stored is not None and stored.last_error is not None
    assert stored.history[-1].reason == "OFFLINE_CONFLICT"


def test_an_operator_refunds_a_quarantined_payment_and_the_day_counts_it_cancelled(
    pos: Pos, world: Sandbox, services: Services, e2e_settings: Settings, worker: Any
) -> None:
    from integrator.ops.wiring import build_operations
    from integrator.payments.operations import Resolution

    tl, ws = bill_of(pos, TL_AMRITSAR, "TL"), bill_of(pos, WS_RAMESH, "WS")
    world.admin(
        "counter-payment", tenantId=AMRITSAR, businessService="TL", consumerCode=TL_AMRITSAR
    )
    answer = by_key(upload(pos, [item("refund-1", tl, 1500)]))["refund-1"]
    assert answer["outcome"] == "quarantined"
    operations = build_operations(services)
    # an operator's retry sends it to DIGIT as it is now: paid elsewhere, back to a person
    operations.retry(answer["payment"]["id"], operator="alice")
    pid = answer["payment"]["id"]
    wait_for(lambda: _status(services, pid) is PaymentStatus.NEEDS_ATTENTION)
    retried = services.payments_store.get(pid)
    assert retried is not None and retried.needs_attention_reason == "BILL_PAID_ELSEWHERE"
    assert world.payments_for_bill(tl["billId"])[0]["paymentDetails"][0]["billId"] == tl["billId"]
    assert len(world.payments_for_bill(tl["billId"])) == 1  # the counter's only
    # the consumer's other bills are not held by the quarantined payment
    assert pos.pay(_payment(ws, 815), key="refund-2").status_code in (201, 202)

    operations.resolve(pid, operator="alice", resolution=Resolution.REFUNDED, note="cash returned")

    code, out = run(
        e2e_settings, "reports", "day-close", "--date", _today(services), "--device", DEVICE
    )
    assert code == 0, out
    [cash] = jsonutil.loads(out)["modes"]
    assert cash["collected"] == Decimal(1500 + 815) and cash["cancelled"] == Decimal(1500)
    assert cash["outstanding"] == Decimal(815)
    assert device_me(pos, "cash")["byMode"] == [{"paymentMode": "CASH", "amount": Decimal(815)}]


def test_cash_beyond_the_devices_offline_limit_is_quarantined(
    pos: Pos, services: Services, e2e_settings: Settings
) -> None:
    code, out = run(
        e2e_settings, "cash", "limits", "--device", DEVICE, "--offline-cash-limit", "1000",
        "--offline-max-age-hours", "24",
    )  # fmt: skip
    assert code == 0, out
    limits = device_me(pos, "limits")
    assert limits["offlineCashLimit"] == Decimal(1000)
    assert limits["offlineMaxAgeSeconds"] == 24 * 3600
    ws, sw = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, SW_RAMESH, "SW")

    answer = by_key(
        upload(pos, [item("lim-2", sw, 315, hours_ago=1), item("lim-1", ws, 815, hours_ago=2)])
    )

    assert answer["lim-1"]["outcome"] == "accepted"  # taken first
    assert answer["lim-2"]["outcome"] == "quarantined"
    assert answer["lim-2"]["conflict"]["code"] == "OFFLINE_CASH_LIMIT_EXCEEDED"


def test_the_offline_cash_limit_counts_what_earlier_uploads_left_in_hand_until_a_hand_over(
    pos: Pos, services: Services, e2e_settings: Settings
) -> None:
    code, out = run(e2e_settings, "cash", "limits", "--device", DEVICE, "--offline-cash-limit",
                    "1000")  # fmt: skip
    assert code == 0, out
    ws, sw, pt = (
        bill_of(pos, WS_RAMESH, "WS"),
        bill_of(pos, SW_RAMESH, "SW"),
        bill_of(pos, PT_RAMESH, "PT"),
    )
    first = by_key(upload(pos, [item("split-1", ws, 815, hours_ago=2)]))

    # the rest of the same day's cash, in a second upload
    second = by_key(upload(pos, [item("split-2", sw, 315, hours_ago=1)]))

    assert first["split-1"]["outcome"] == "accepted"
    assert second["split-2"]["outcome"] == "quarantined"
    assert second["split-2"]["conflict"]["code"] == "OFFLINE_CASH_LIMIT_EXCEEDED"
    assert second["split-2"]["conflict"]["offlineCashHeldBefore"] == Decimal(815)
    # a hand-over of what the device holds releases the limit
    code, out = run(e2e_settings, "cash", "handover", "--device", DEVICE, "--amount",
                    "CASH=1130", "--cashier", "cashier1")  # fmt: skip
    assert code == 0, out
    third = by_key(upload(pos, [item("split-3", pt, 900, hours_ago=0.5)]))
    assert third["split-3"]["outcome"] == "accepted", third


def test_a_service_no_longer_collectable_in_the_city_is_quarantined(
    pos: Pos, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, sw = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, SW_RAMESH, "SW")
    # while the device was offline our account lost the role that searches water payments
    may_search = services.digit.may_search
    monkeypatch.setattr(
        services.digit,
        "may_search",
        lambda module, tenant_id: False if module == "WS" else may_search(module, tenant_id),
    )

    answer = by_key(upload(pos, [item("gone-1", ws, 815), item("gone-2", sw, 315)]))

    assert answer["gone-1"]["outcome"] == "quarantined", answer["gone-1"]
    assert answer["gone-1"]["conflict"]["code"] == "SERVICE_NOT_COLLECTABLE"
    assert answer["gone-2"]["outcome"] == "accepted"


def test_a_cheque_that_went_stale_while_offline_is_quarantined_one_stale_when_taken_refused(
    pos: Pos, services: Services
) -> None:
    ws, sw = bill_of(pos, WS_RAMESH, "WS"), bill_of(pos, SW_RAMESH, "SW")
    today = datetime.now(services.settings.digit_timezone).date()

    def cheque(key: str, bill: dict[str, Any], amount: int, days_old: int) -> dict[str, Any]:
        # taken two days ago: DIGIT's window (today - 89 days) then reached 91 days back
        return {
            **item(key, bill, amount, hours_ago=48, mode="CHEQUE"),
            "instrumentNumber": f"{days_old:06d}",
            "instrumentDate": (today - timedelta(days=days_old)).isoformat(),
        }

    answer = by_key(upload(pos, [cheque("stale-1", ws, 815, 90), cheque("stale-2", sw, 315, 95)]))

    aged = answer["stale-1"]
    assert aged["outcome"] == "quarantined", aged
    assert aged["conflict"]["code"] == "INSTRUMENT_DATE_TOO_OLD"
    stored = services.payments_store.get(aged["payment"]["id"])
    assert stored is not None and stored.needs_attention_reason == "OFFLINE_CONFLICT"
    already = answer["stale-2"]
    assert already["outcome"] == "refused"
    assert already["problem"]["code"] == "INSTRUMENT_DATE_TOO_OLD"


def test_a_bill_whose_payment_a_clerk_reversed_is_quarantined_saying_so(
    pos: Pos, world: Sandbox, services: Services, sandbox: str
) -> None:
    pt = bill_of(pos, PT_RAMESH, "PT")
    # while the device had no signal, a clerk paid the bill in DIGIT and cancelled the payment:
    # billing has consumed neither yet, but DIGIT's UNIQUE(billId) refuses the bill for good
    clerk = Digit(sandbox)
    assert clerk.login().status_code == 200
    [counter] = body_of(clerk.pay([(_digit_bill(clerk), pt["totalAmount"])]))["Payments"]
    cancel = {"paymentId": counter["id"], "action": "CANCEL", "tenantId": AMRITSAR}
    assert clerk.post(
        "/collection-services/payments/PT/_workflow", {"PaymentWorkflows": [cancel]}
    ).ok

    answer = by_key(upload(pos, [item("off-pt", pt, pt["totalAmount"])]))

    assert answer["off-pt"]["outcome"] == "quarantined"
    conflict = answer["off-pt"]["conflict"]
    assert conflict["code"] == "BILL_ALREADY_PAID" and "reversed" in conflict["message"]
    assert [p["id"] for p in world.payments_for_bill(pt["billId"])] == [counter["id"]]


def _digit_bill(clerk: Digit) -> dict[str, Any]:
    return clerk.bill(PT_RAMESH, "PT")


@pytest.mark.parametrize(
    ("raw", "status", "field", "code"),
    [
        ("{}", 422, "payments", "REQUIRED"),
        ('{"payments": {}}', 422, "payments", "INVALID_TYPE"),
        ("[]", 422, "payments", "INVALID_TYPE"),
        ('{"payments": ' + "[" * 5_000 + "]" * 5_000 + "}", 400, None, "INVALID_JSON"),
    ],
)
def test_a_batch_body_of_the_wrong_form_is_refused_whole(
    pos: Pos, raw: str, status: int, field: str | None, code: str
) -> None:
    answer = requests.post(
        f"{pos.base}/v1/payments/batch", data=raw, headers=pos.headers(), timeout=60
    )

    assert answer.status_code == status, answer.text
    body = body_of(answer)
    assert body["code"] == code
    assert [e["field"] for e in body["errors"]] == ([field] if field else [])
