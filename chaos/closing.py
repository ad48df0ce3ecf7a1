"""The end of a chaos run, as ops would close it: every NEEDS_ATTENTION payment resolved by an
operator action (the domain operations the CLI and the console use), none left open; then the
walk of DIGIT's payments over the run's days (reverse reconciliation) must find no orphan and no
duplicate.

    close_needs_attention(env, sandbox_url, log)  -> the closing's summary (JSON-able)
    walk_run_days(env, sandbox_url, run_started, log) -> the walk's summary (JSON-able)
    closing_failures(closing, walk)               -> what makes the run fail, by kind

The choice per payment is what an operator would make from DIGIT's records:
- DIGIT holds more than one live payment carrying our id (the payer was charged twice):
  DIGIT's administrators cancel the extra ones first, newest first (DIGIT cancels only a
  consumer's newest payment), as the ops guidance says (RECEIPTED_BY_HAND is refused,
  DIGIT_HOLDS_DUPLICATE, while they are live); the oldest stays;
- DIGIT holds a live payment carrying our id: RECEIPTED_BY_HAND with one of that payment's real
  receipt numbers (it stands for the whole DIGIT payment; verified in DIGIT by the operation);
- otherwise the money goes back: REFUNDED (the operation refuses it while DIGIT holds a live
  payment carrying our id);
- an action refused by the operation: retry the payment (registration looks before creating),
  and close what it ends in once more.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import requests

from integrator.jobs.reconcile import ReconcileWiring, run_digit_walk
from integrator.ops.wiring import build_operations
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.operations import OperationRefused, PaymentOperations, Resolution
from integrator.services import Services
from integrator.settings import Settings

OPERATOR = "chaos-operator"
PAYMENT_ID_KEY = "integratorPaymentId"  # integrator.payments.registration.PAYMENT_ID_KEY
LIVE_INSTRUMENT_STATUSES = {"APPROVED", "APPROVAL_PENDING", "REMITTED"}
#: Rounds of resolve -> (retry -> wait) before what is still open counts as left open.
ROUNDS = 3
#: How long a retried payment may take to leave PENDING.
RETRY_WAIT_SECONDS = 60.0

Log = Callable[[str], None]


def _services(env: Mapping[str, str]) -> Services:
    return Services.build(Settings.from_env(dict(env), dotenv=False), pool_size=2)


def _ids(services: Services, status: PaymentStatus) -> list[str]:
    found: list[str] = []
    while ids := services.payments_store.ids_by_status(status, offset=len(found), limit=500):
        found += ids
    return found


def _live_ours(sandbox_url: str) -> dict[str, list[Mapping[str, Any]]]:
    """DIGIT's live payments carrying an id of ours, by that id (the sandbox's own records)."""
    payments = requests.get(f"{sandbox_url}/_sandbox/payments", timeout=60).json()["Payments"]
    ours: dict[str, list[Mapping[str, Any]]] = {}
    for p in payments:
        pid = (p.get("additionalDetails") or {}).get(PAYMENT_ID_KEY)
        if pid and p.get("instrumentStatus") in LIVE_INSTRUMENT_STATUSES:
            ours.setdefault(str(pid), []).append(p)
    return ours


def _cancel_in_digit(sandbox_url: str, digit_payment: Mapping[str, Any], reason: str) -> None:
    """DIGIT's administrators cancel a payment (the sandbox's stand-in for them: the reference
    grants no role to cancel WS/SW payments through the API); DIGIT's rules apply."""
    answer = requests.post(
        f"{sandbox_url}/_sandbox/cancel-payment",
        json={
            "tenantId": digit_payment["tenantId"],
            "paymentId": digit_payment["id"],
            "reason": reason,
        },
        timeout=60,
    )
    answer.raise_for_status()


def close_one(
    ops: PaymentOperations,
    payment: Payment,
    ours: list[Mapping[str, Any]],
    *,
    sandbox_url: str,
) -> tuple[str, str | None]:
    """Close one NEEDS_ATTENTION payment given DIGIT's live payments carrying its id: (what was
    done, the refusal's code if the first choice was refused)."""
    if len(ours) > 1:
        keep, *extra = sorted(ours, key=lambda p: (p.get("transactionDate") or 0, p["id"]))
        for digit_payment in reversed(extra):  # newest first: DIGIT cancels only the newest
            try:
                _cancel_in_digit(sandbox_url, digit_payment, f"chaos: duplicate of {payment.id}")
            except requests.RequestException:
                return "refused", "EXTRA_NOT_CANCELLED"
        ours = [keep]
    try:
        if ours:
            receipt = ours[0]["paymentDetails"][0]["receiptNumber"]
            ops.resolve(
                payment.id,
                operator=OPERATOR,
                resolution=Resolution.RECEIPTED_BY_HAND,
                note=f"chaos: DIGIT holds our payment ({payment.needs_attention_reason})",
                receipt_number=receipt,
            )
            return Resolution.RECEIPTED_BY_HAND.value, None
        ops.resolve(
            payment.id,
            operator=OPERATOR,
            resolution=Resolution.REFUNDED,
            note=f"chaos: money returned ({payment.needs_attention_reason})",
        )
        return Resolution.REFUNDED.value, None
    except OperationRefused as exc:
        try:
            ops.retry(payment.id, operator=OPERATOR)
        except OperationRefused as again:
            return "refused", f"{exc.code}/{again.code}"
        return "retried", exc.code


def close_needs_attention(env: Mapping[str, str], sandbox_url: str, log: Log) -> dict[str, Any]:
    """Resolve every NEEDS_ATTENTION payment; then count what is still open (not final)."""
    services = _services(env)
    actions: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    try:
        ops = build_operations(services)
        for _round in range(ROUNDS):
            waiting = _ids(services, PaymentStatus.NEEDS_ATTENTION)
            if not waiting:
                break
            ours = _live_ours(sandbox_url)
            retried = False
            for payment in services.payments_store.get_many(waiting):
                if payment.status is not PaymentStatus.NEEDS_ATTENTION:
                    continue
                done, refused = close_one(
                    ops, payment, ours.get(payment.id, []), sandbox_url=sandbox_url
                )
                actions[done] += 1
                by_reason[f"{payment.needs_attention_reason} -> {done}"] += 1
                if refused:
                    refusals[refused] += 1
                retried |= done == "retried"
            if retried:  # wait for the retried payments to be decided again
                deadline = time.monotonic() + RETRY_WAIT_SECONDS
                while _ids(services, PaymentStatus.PENDING) and time.monotonic() < deadline:
                    time.sleep(1)
        open_ids = _ids(services, PaymentStatus.NEEDS_ATTENTION) + _ids(
            services, PaymentStatus.PENDING
        )
        resolved = len(_ids(services, PaymentStatus.RESOLVED))
    finally:
        services.close()
    log(f"closing: {dict(actions)}; {resolved} resolved, {len(open_ids)} left open")
    return {
        "actions": dict(sorted(actions.items())),
        "by_reason": dict(sorted(by_reason.items())),
        "refusals": dict(sorted(refusals.items())),
        "resolved": resolved,
        "left_open": sorted(open_ids),
    }


def walk_run_days(
    env: Mapping[str, str], sandbox_url: str, run_started: datetime, log: Log
) -> dict[str, Any]:
    """Reverse reconciliation over the run's days: from the run's first day to DIGIT's today
    (the run moves the sandbox's clock past bills' expiry), in DIGIT_TIMEZONE."""
    services = _services(env)
    try:
        tz = services.settings.digit_timezone
        first_day: date = run_started.astimezone(tz).date()
        digit_now = requests.get(f"{sandbox_url}/_sandbox/clock", timeout=10).json()["now"]
        last_day = max(
            datetime.fromtimestamp(int(digit_now) / 1000, tz=tz).date(),
            datetime.now(tz).date(),
        )
        report = run_digit_walk(
            ReconcileWiring.of_services(services), first=first_day, last=last_day
        )
    finally:
        services.close()
    summary = report.summary()
    log(
        f"reverse reconciliation {first_day}..{last_day}: {summary['digitPayments']} DIGIT "
        f"payments, {summary['ours']} ours, {summary['orphans']} orphans, "
        f"{summary['duplicates']} duplicates, {summary['differs']} differ, "
        f"complete={summary['complete']}"
    )
    return summary


def closing_failures(closing: Mapping[str, Any], walk: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What fails the run: a payment left open after the operator actions; an orphan, a
    duplicate or a difference the walk found; a walk that could not cover the run's days."""
    failures: dict[str, list[Any]] = {
        "left_open": list(closing.get("left_open", ())),
        "walk_orphan": [f for f in walk.get("findings", ()) if f["kind"] == "ORPHAN"],
        "walk_duplicate": [f for f in walk.get("findings", ()) if f["kind"] == "DUPLICATE"],
        "walk_differs": [f for f in walk.get("findings", ()) if f["kind"] == "DIFFERS"],
        "walk_incomplete": (
            []
            if walk.get("complete") and not walk.get("unsearchable")
            else [{"stopped_by": walk.get("stopped_by"), "unsearchable": walk.get("unsearchable")}]
        ),
    }
    return failures
