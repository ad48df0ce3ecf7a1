"""Reverse reconciliation end to end: DIGIT payments carrying our id made in the sandbox over real
HTTP, the real ledger, the walk run by the CLI (`integrator reports reconcile --from --to`), the
flags listed and acknowledged with `integrator reports flags`, and the alert's gauge on /metrics.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests
from click.testing import CliRunner

from integrator import cli, jsonutil
from integrator.digit.models import DigitPayment
from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.services import Services
from integrator.settings import Settings
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import AMRITSAR, PASSWORDS, SW_RAMESH, make_payment

TL_AMRITSAR = "PB-TL-2024-07-04-002271"
UNACKNOWLEDGED = "integrator_reconciliation_unacknowledged"


def run(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The CLI with an operator's password in the environment, as a script gives it."""
    env = {"INTEGRATOR_OPERATOR_PASSWORD": PASSWORDS["alice"]}
    result = CliRunner().invoke(cli.main, list(args), obj=settings, env=env)
    return result.exit_code, result.stdout, result.stderr


def in_digit(services: Services, payment: Payment, **line_overrides: Any) -> DigitPayment:
    """Create in DIGIT the payment the registrar would create for `payment` (our id stamped)."""
    request = services.registrar.digit_request(payment)
    if line_overrides:
        request = replace(
            request, lines=tuple(replace(line, **line_overrides) for line in request.lines)
        )
    return services.digit.create_payment(request)


def registered(services: Services, payment: Payment, digit: DigitPayment) -> Payment:
    """`payment` stored as REGISTERED with `digit`'s receipts."""
    receipts = {d.bill_id: d.receipt_number for d in digit.details}
    moved = replace(
        payment,
        digit_payment_id=digit.id,
        bills=tuple(replace(b, receipt_number=receipts.get(b.bill_id)) for b in payment.bills),
    )
    return services.payments_store.save(
        states.transition(
            moved, PaymentStatus.REGISTERED, actor="worker", reason="created", at=payment.created_at
        ),
        fence=None,
    )


def today(settings: Settings) -> str:
    return datetime.now(settings.digit_timezone).date().isoformat()


def unacknowledged_gauge(live: str) -> float:
    text = requests.get(f"{live}/metrics", timeout=10).text
    [line] = [ln for ln in text.splitlines() if ln.startswith(UNACKNOWLEDGED + " ")]
    return float(line.split()[1])


def test_the_walk_flags_orphans_duplicates_and_differences_and_acknowledging_clears_the_alert(
    ops_settings: Settings, services: Services, world: Sandbox, live: str
) -> None:
    # a state-wide device: every city of pb is walked, except those where the account may not
    # create payments (none can carry our id there)
    services.devices.add("pos-punjab", ["pb"])
    # explained: registered in the ledger with the very DIGIT payment
    fine = make_payment(
        services,
        status=PaymentStatus.PENDING,
        consumer_code=SW_RAMESH,
        business_service="SW",
        amount=Decimal(315),
    )
    registered(services, fine, in_digit(services, fine))
    # ORPHAN: DIGIT holds it, the ledger gave up on it (NEEDS_ATTENTION)
    orphan = make_payment(services, status=PaymentStatus.PENDING)
    orphan_digit = in_digit(services, orphan)
    services.payments_store.save(
        states.transition(
            services.payments_store.get(orphan.id),  # type: ignore[arg-type]
            PaymentStatus.NEEDS_ATTENTION,
            actor="worker",
            reason="RETRIES_EXHAUSTED",
            at=orphan.created_at,
        ),
        fence=None,
    )
    # DIFFERS: the ledger registered 1400 on the TL bill, DIGIT holds 1500 carrying the id
    differs = make_payment(
        services,
        status=PaymentStatus.PENDING,
        consumer_code=TL_AMRITSAR,
        business_service="TL",
        amount=Decimal(1400),
    )
    differs_digit = in_digit(services, differs, amount=Decimal(1500), total_due=Decimal(1500))
    registered(services, differs, differs_digit)
    assert unacknowledged_gauge(live) == 0

    code, out, err = run(ops_settings, "reports", "reconcile", "--from", today(ops_settings))

    assert code == 0, (out, err)
    summary = jsonutil.loads(out)
    assert summary["complete"] is True and summary["unsearchable"] == []
    assert "pb.nawanshahr/WS" in summary["notCollectable"]
    assert f"{AMRITSAR}/TL" in summary["scopes"] and "pb.jalandhar/WS" in summary["scopes"]
    assert (summary["orphans"], summary["duplicates"], summary["differs"]) == (1, 0, 1)
    assert summary["explained"] == 1 and summary["newFindings"] == 2
    kinds = {f["digitPaymentId"]: f["kind"] for f in summary["findings"]}
    assert kinds == {orphan_digit.id: "ORPHAN", differs_digit.id: "DIFFERS"}
    assert unacknowledged_gauge(live) == 2

    # a second walk of the same day finds the same, and adds nothing new
    code, out, _ = run(
        ops_settings,
        "reports",
        "reconcile",
        "--from",
        today(ops_settings),
        "--to",
        today(ops_settings),
    )
    assert code == 0 and jsonutil.loads(out)["newFindings"] == 0

    code, out, err = run(ops_settings, "reports", "flags")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    orphan_line = next(ln for ln in lines if "\tORPHAN\t" in ln)
    assert orphan.id in orphan_line and orphan_digit.id in orphan_line
    assert orphan_digit.details[0].receipt_number in orphan_line
    assert "ledger NEEDS_ATTENTION" in orphan_line
    orphan_flag = orphan_line.split("\t")[0]

    code, _, err = run(
        ops_settings, "reports", "flags", "ack", orphan_flag, "--note", " ", "--operator", "alice"
    )
    assert code == 1 and "NOTE_REQUIRED" in err
    code, out, err = run(
        ops_settings,
        "reports",
        "flags",
        "ack",
        orphan_flag,
        "--note",
        "refund stopped; DIGIT receipt kept",
        "--operator",
        "alice",
    )
    assert code == 0, err
    assert unacknowledged_gauge(live) == 1
    differs_flag = next(ln for ln in lines if "\tDIFFERS\t" in ln).split("\t")[0]
    code, _, err = run(
        ops_settings,
        "reports",
        "flags",
        "ack",
        differs_flag,
        "--note",
        "DIGIT office corrects the receipt",
        "--operator",
        "alice",
    )
    assert code == 0, err

    assert unacknowledged_gauge(live) == 0
    code, out, _ = run(ops_settings, "reports", "flags")
    assert out.strip() == "no unacknowledged flags"
    code, out, _ = run(ops_settings, "reports", "flags", "--all")
    assert "ACKNOWLEDGED by alice: refund stopped; DIGIT receipt kept" in out
    code, _, err = run(
        ops_settings, "reports", "flags", "ack", "999999", "--note", "x", "--operator", "alice"
    )
    assert code == 1 and "FLAG_NOT_FOUND" in err


def test_two_live_digit_payments_carrying_one_id_are_flagged_duplicate_and_an_unknown_id_orphan(
    ops_settings: Settings, services: Services, world: Sandbox
) -> None:
    # our payment was created twice in DIGIT (on the WS and on the SW bill of the consumer, as a
    # late commit on a bill we moved away from would): the ledger registered the first
    first = make_payment(services, status=PaymentStatus.PENDING)
    first_digit = in_digit(services, first)
    registered(services, first, first_digit)
    sw_bill = services.digit.fetch_bills(
        tenant_id=AMRITSAR, business_service="SW", consumer_code=SW_RAMESH
    )[0]
    twin = replace(
        first,
        bills=(
            replace(
                first.bills[0],
                bill_id=sw_bill.id,
                business_service="SW",
                consumer_code=SW_RAMESH,
                amount=Decimal(315),
                total_due=Decimal(315),
            ),
        ),
    )
    twin_digit = in_digit(services, twin)
    # a DIGIT payment carrying an id the ledger never held (a restored ledger, another system)
    stranger = make_payment(
        services,
        status=PaymentStatus.PENDING,
        consumer_code="TL",
        business_service="TL",
        bill_id="unused",
    )
    lost_bill = services.digit.fetch_bills(
        tenant_id=AMRITSAR, business_service="TL", consumer_code=TL_AMRITSAR
    )[0]
    ghost = replace(
        stranger,
        id="pay_never_in_the_ledger",
        bills=(
            replace(
                stranger.bills[0],
                bill_id=lost_bill.id,
                consumer_code=TL_AMRITSAR,
                amount=Decimal(1500),
                total_due=Decimal(1500),
            ),
        ),
    )
    ghost_digit = in_digit(services, ghost)

    code, out, err = run(ops_settings, "reports", "reconcile", "--from", today(ops_settings))

    assert code == 0, (out, err)
    summary = jsonutil.loads(out)
    kinds = {f["digitPaymentId"]: f["kind"] for f in summary["findings"]}
    # the extra one is the duplicate; the one the ledger registered is not flagged
    assert kinds == {twin_digit.id: "DUPLICATE", ghost_digit.id: "ORPHAN"}
    assert first_digit.id not in kinds
    ghost_finding = next(f for f in summary["findings"] if f["kind"] == "ORPHAN")
    assert ghost_finding["ledgerStatus"] is None


def test_reconcile_without_dates_keeps_checking_registered_payments_by_lookback(
    ops_settings: Settings, services: Services, world: Sandbox
) -> None:
    payment = make_payment(services, status=PaymentStatus.PENDING)
    registered(services, payment, in_digit(services, payment))

    code, out, err = run(ops_settings, "reports", "reconcile", "--lookback-days", "1")

    assert code == 0, err
    summary = jsonutil.loads(out)
    assert summary["checked"] == 1 and summary["healthy"] == 1
    # printed in DIGIT_TIMEZONE, as every CLI time (the epoch stays an epoch)
    assert summary["timezone"] == "Asia/Kolkata (DIGIT_TIMEZONE)"
    assert summary["started_at"].endswith("+05:30") and summary["finished_at"].endswith("+05:30")
    code, _, err = run(ops_settings, "reports", "reconcile", "--to", today(ops_settings))
    assert code == 2 and "--to needs --from" in err


def test_acting_on_an_orphan_clears_it_at_the_next_walk_without_an_acknowledgement(
    ops_settings: Settings, services: Services, world: Sandbox, live: str
) -> None:
    orphan = make_payment(services, status=PaymentStatus.PENDING)
    orphan_digit = in_digit(services, orphan)
    stored = services.payments_store.get(orphan.id)
    assert stored is not None
    services.payments_store.save(
        states.transition(
            stored,
            PaymentStatus.NEEDS_ATTENTION,
            actor="worker",
            reason="RETRIES_EXHAUSTED",
            at=orphan.created_at,
        ),
        fence=None,
    )
    code, out, _ = run(ops_settings, "reports", "reconcile", "--from", today(ops_settings))
    assert code == 0 and jsonutil.loads(out)["orphans"] == 1
    assert unacknowledged_gauge(live) == 1

    # the operator acts: DIGIT's receipt is ours, the payment is closed with it
    code, _, err = run(
        ops_settings,
        "payments",
        "resolve",
        orphan.id,
        "--as",
        "RECEIPTED_BY_HAND",
        "--receipt",
        orphan_digit.details[0].receipt_number,
        "--note",
        "DIGIT holds it",
        "--operator",
        "alice",
    )
    assert code == 0, err
    code, out, _ = run(ops_settings, "reports", "reconcile", "--from", today(ops_settings))

    summary = jsonutil.loads(out)
    assert code == 0 and summary["orphans"] == 0 and summary["cleared"] == 1
    assert summary["explained"] == 1
    assert unacknowledged_gauge(live) == 0
    code, out, _ = run(ops_settings, "reports", "flags", "--all")
    assert out.strip() == "no reconciliation flags"
