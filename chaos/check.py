"""The chaos run's verdict: what the devices were told and what our store holds, against what
the sandbox (DIGIT) recorded. Pure functions over plain data, so tests/chaos can test them.

Inputs (all JSON-able):
- `answers`: per Idempotency-Key, what the device was answered: `{"key", "payment_ids": [...],
  "statuses": [...], "accepted": bool}` (accepted: it got a 201, 202 or 200);
- `stored`: our store's payments: `{"id", "idempotency_key", "status", "reason", "tenant_id",
  "bills": [{"bill_id", "consumer": [tenant, service, code], "amount"}]}`;
- `digit`: the sandbox's `GET /_sandbox/payments` list, as is;
- `injected`: the consumers the run changed behind our back: `{"counter": [[t, s, c], ...],
  "demand": [[t, s, c], ...]}`, and `clock_jump`: how often DIGIT's clock was moved past bills'
  expiry.

The rules:
- lost: a payment a device was told was accepted, or that our store holds, missing from our
  store (by id);
- duplicated: a bill with more than one live DIGIT payment, or one of ours with more than one
  DIGIT payment carrying our payment id;
- orphan: a DIGIT payment that is not the sandbox's own counter payment and names no payment
  in our store;
- wrong: a REGISTERED payment whose DIGIT payment misses a bill, pays another amount, or is
  absent;
- unexplained: NEEDS_ATTENTION whose reason does not match what was injected on one of its
  consumers (BILL_PAID_ELSEWHERE <- a counter payment; BILL_EXPIRED_TOTAL_CHANGED <- a new
  demand), RESOLVED (nobody resolves anything in a chaos run), or a NEEDS_ATTENTION payment
  that DIGIT does hold (it should have been adopted);
- stuck: still PENDING when the run stopped waiting;
- a REFUSED payment (DIGIT refused its first create while the device waited) is lost if the
  device was told it was accepted, wrong if DIGIT holds it, unexplained unless a counter
  payment on its consumers (BILL_ALREADY_PAID) or the sandbox's clock jump past bills' expiry
  (DIGIT's BILL_EXPIRED) explains it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

PAYMENT_ID_KEY = "integratorPaymentId"  # integrator.payments.registration.PAYMENT_ID_KEY
COUNTER_SOURCE = "sandbox-counter"  # the sandbox's counter payments' additionalDetails.source
LIVE_INSTRUMENT_STATUSES = {"APPROVED", "APPROVAL_PENDING", "REMITTED"}

#: NEEDS_ATTENTION reasons the run provokes on purpose, and which injection explains each.
EXPLAINED_BY = {"BILL_PAID_ELSEWHERE": "counter", "BILL_EXPIRED_TOTAL_CHANGED": "demand"}

FAILURE_KINDS = ("lost", "duplicated", "orphan", "wrong", "unexplained", "stuck")


def is_counter(payment: Mapping[str, Any]) -> bool:
    details = payment.get("additionalDetails") or {}
    return isinstance(details, Mapping) and details.get("source") == COUNTER_SOURCE


def ours_id(payment: Mapping[str, Any]) -> str | None:
    details = payment.get("additionalDetails") or {}
    if not isinstance(details, Mapping):
        return None
    value = details.get(PAYMENT_ID_KEY)
    return str(value) if value else None


def is_live(payment: Mapping[str, Any]) -> bool:
    return payment.get("instrumentStatus") in LIVE_INSTRUMENT_STATUSES


def _consumers(payment: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    return {tuple(b["consumer"]) for b in payment["bills"]}  # type: ignore[misc]


def check(
    *,
    answers: Iterable[Mapping[str, Any]],
    stored: Iterable[Mapping[str, Any]],
    digit: Iterable[Mapping[str, Any]],
    injected: Mapping[str, Any],
) -> dict[str, Any]:
    """The verdict: counts, and for each failure kind the offending ids with a short why."""
    answers = list(answers)
    stored_by_id = {p["id"]: p for p in stored}
    digit = list(digit)
    counter_consumers = {tuple(c) for c in injected.get("counter", ())}
    demand_consumers = {tuple(c) for c in injected.get("demand", ())}
    clock_jumped = bool(injected.get("clock_jump"))
    failures: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FAILURE_KINDS}

    # --- what the devices were told ---
    accepted_ids: set[str] = set()
    for answer in answers:
        ids = set(answer.get("payment_ids") or ())
        if len(ids) > 1:
            failures["duplicated"].append(
                {"key": answer["key"], "why": f"one key answered with payments {sorted(ids)}"}
            )
        if answer.get("accepted"):
            accepted_ids |= ids
            for pid in ids:
                if pid not in stored_by_id:
                    failures["lost"].append(
                        {"id": pid, "key": answer["key"], "why": "accepted, not in our store"}
                    )

    # --- what DIGIT holds ---
    ours_by_pid: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    live_by_bill: dict[str, list[str]] = defaultdict(list)
    counter_payments = 0
    for payment in digit:
        if is_live(payment):
            for detail in payment.get("paymentDetails") or ():
                live_by_bill[detail["billId"]].append(payment["id"])
        if is_counter(payment):
            counter_payments += 1
            continue
        pid = ours_id(payment)
        if pid is None or pid not in stored_by_id:
            failures["orphan"].append(
                {
                    "digit_payment": payment["id"],
                    "id": pid,
                    "why": "DIGIT payment without an accepted payment of ours",
                }
            )
            continue
        ours_by_pid[pid].append(payment)
    for bill_id, ids in sorted(live_by_bill.items()):
        if len(ids) > 1:
            failures["duplicated"].append(
                {"bill_id": bill_id, "why": f"{len(ids)} live DIGIT payments: {sorted(ids)}"}
            )

    # --- our store, payment by payment ---
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    registered_bills = 0
    for pid, payment in sorted(stored_by_id.items()):
        status = payment["status"]
        statuses[status] += 1
        found = ours_by_pid.get(pid, [])
        if len(found) > 1:
            failures["duplicated"].append(
                {"id": pid, "why": f"{len(found)} DIGIT payments carry our id"}
            )
        if status == "PENDING":
            failures["stuck"].append({"id": pid, "why": "still PENDING"})
        elif status == "REGISTERED":
            registered_bills += len(payment["bills"])
            problem = _registered_mismatch(payment, found)
            if problem:
                failures["wrong"].append({"id": pid, "why": problem})
        elif status == "NEEDS_ATTENTION":
            reason = payment.get("reason") or "?"
            reasons[reason] += 1
            source = EXPLAINED_BY.get(reason)
            hit = {"counter": counter_consumers, "demand": demand_consumers}.get(source or "")
            if found:
                failures["unexplained"].append(
                    {
                        "id": pid,
                        "reason": reason,
                        "why": "NEEDS_ATTENTION but DIGIT holds our payment (not adopted)",
                    }
                )
            elif hit is None or not (_consumers(payment) & hit):
                failures["unexplained"].append(
                    {"id": pid, "reason": reason, "why": "no injected cause on its consumers"}
                )
        elif status == "REFUSED":
            # DIGIT refused the first create while the device waited: the device must have
            # been told so (never "accepted"), DIGIT must hold nothing of ours, and the refusal
            # must have a cause the run injected (a counter payment of the bill)
            reason = payment.get("reason") or "?"
            reasons[f"REFUSED {reason}"] += 1
            if pid in accepted_ids:
                failures["lost"].append(
                    {"id": pid, "why": "the device was told accepted, the payment is REFUSED"}
                )
            if found:
                failures["wrong"].append({"id": pid, "why": "REFUSED but DIGIT holds it"})
            paid_at_counter = reason == "BILL_ALREADY_PAID" and (
                _consumers(payment) & counter_consumers
            )
            expired_by_jump = "BILL_EXPIRED" in (payment.get("codes") or ()) and clock_jumped
            if not (paid_at_counter or expired_by_jump):
                failures["unexplained"].append(
                    {"id": pid, "reason": reason, "why": "REFUSED with no injected cause"}
                )
        else:
            failures["unexplained"].append({"id": pid, "why": f"status {status}"})

    return {
        "accepted": len(accepted_ids | set(stored_by_id)),
        "accepted_by_devices": len(accepted_ids),
        "stored": len(stored_by_id),
        "statuses": dict(sorted(statuses.items())),
        "needs_attention": dict(sorted(reasons.items())),
        "registered_bills": registered_bills,
        "digit_payments": len(digit),
        "digit_counter_payments": counter_payments,
        "failures": failures,
        "counts": {kind: len(items) for kind, items in failures.items()},
        "ok": not any(failures.values()),
    }


def _registered_mismatch(payment: Mapping[str, Any], found: list[Mapping[str, Any]]) -> str:
    """Why a REGISTERED payment does not match DIGIT's record ('' when it does)."""
    if not found:
        return "REGISTERED but DIGIT holds no payment with our id"
    details = {d["billId"]: d for d in found[0].get("paymentDetails") or ()}
    for bill in payment["bills"]:
        detail = details.pop(bill["bill_id"], None)
        if detail is None:
            return f"no DIGIT receipt for bill {bill['bill_id']}"
        if Decimal(str(detail["totalAmountPaid"])) != Decimal(str(bill["amount"])):
            return (
                f"bill {bill['bill_id']}: DIGIT has {detail['totalAmountPaid']}, "
                f"we have {bill['amount']}"
            )
        if not detail.get("receiptNumber"):
            return f"bill {bill['bill_id']}: no receipt number"
    if details:
        return f"DIGIT paid bills we do not hold: {sorted(details)}"
    return ""


def table(result: Mapping[str, Any]) -> str:
    """The human summary printed at the end of a run."""
    verdict = result["verdict"]
    rows: list[tuple[str, Any]] = [
        ("payments planned", result["planned"]),
        ("accepted (201/202/200 or stored)", verdict["accepted"]),
        ("  answered to devices", verdict["accepted_by_devices"]),
        ("  device outcomes", _compact(result["devices"]["outcomes"])),
        ("registered", verdict["statuses"].get("REGISTERED", 0)),
        ("needs attention", sum(verdict["needs_attention"].values())),
    ]
    rows += [(f"  {reason}", n) for reason, n in verdict["needs_attention"].items()]
    rows += [
        ("lost", verdict["counts"]["lost"]),
        ("duplicated", verdict["counts"]["duplicated"]),
        ("orphan DIGIT payments", verdict["counts"]["orphan"]),
        ("wrong receipts/amounts", verdict["counts"]["wrong"]),
        ("unexplained needs attention", verdict["counts"]["unexplained"]),
        ("stuck PENDING", verdict["counts"]["stuck"]),
        (
            "DIGIT payments (ours + counter)",
            f"{verdict['digit_payments']} ({verdict['digit_counter_payments']} counter)",
        ),
        ("faults injected", _compact(result["faults"])),
        ("device requests", result["devices"]["requests"]),
        ("device retries", result["devices"]["retries"]),
        ("device timeouts", result["devices"]["timeouts"]),
        ("HTTP statuses seen", _compact(result["devices"]["http"])),
        ("generic 500s (finding)", _compact(result["devices"]["internal_errors_500"])),
        ("process restarts", _compact(result["processes"]["restarts"]) or "none"),
        ("drain (s)", result["drain_seconds"]),
        ("duration (s)", result["duration_seconds"]),
        ("verdict", "PASS" if verdict["ok"] else "FAIL"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def _compact(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items())
