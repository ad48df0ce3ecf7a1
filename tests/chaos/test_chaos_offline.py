"""The offline devices' verdict (chaos.offline.settle): explained quarantines are taken out of the
main check's unexplained list; a payment never answered, answered twice differently, or held
without an injected cause fails the run."""

from __future__ import annotations

from typing import Any

from chaos.check import check
from chaos.offline import Item, OfflinePlan, OfflineRun, reserve, settle

C1 = ("pb.amritsar", "WS", "WS/CHAOS/000100")
C2 = ("pb.jalandhar", "WS", "WS/CHAOS/000101")


def stored(pid: str, consumer: tuple[str, str, str], *, reason: str) -> dict[str, Any]:
    return {
        "id": pid,
        "idempotency_key": f"k-{pid}",
        "status": "NEEDS_ATTENTION",
        "reason": reason,
        "tenant_id": consumer[0],
        "bills": [{"bill_id": f"b-{pid}", "amount": "100", "consumer": list(consumer)}],
    }


def run_with(*items: Item, counter: tuple[tuple[str, str, str], ...] = ()) -> OfflineRun:
    run = OfflineRun(
        env={},
        web_urls=["http://127.0.0.1:9"],
        sandbox_url="http://127.0.0.1:9",
        plan=OfflinePlan(consumers=(C1, C2, C1), extra_consumers=3),
        phase_seconds=1,
        seed=1,
        log=print,
    )
    run.items = [list(items), [], []]
    run.counter = list(counter)
    return run


def quarantined(key: str, pid: str, consumer: tuple[str, str, str], code: str) -> Item:
    return Item(
        key=key,
        consumer=consumer,
        body={},
        outcomes=["quarantined", "quarantined"],
        payment_ids=[pid, pid],
        codes=[code, code],
    )


def test_a_quarantine_explained_by_a_counter_payment_passes() -> None:
    payments = [stored("p1", C1, reason="OFFLINE_CONFLICT")]
    verdict = check(answers=[], stored=payments, digit=[], injected={})
    assert verdict["counts"]["unexplained"] == 1  # the main check cannot explain it

    settled = settle(
        verdict,
        run_with(quarantined("k1", "p1", C1, "BILL_ALREADY_PAID"), counter=(C1,)),
        payments,
        {},
    )

    assert settled["ok"], settled["failures"]
    assert settled["offline"]["quarantined_explained"] == 1


def test_a_quarantine_without_an_injected_cause_fails() -> None:
    payments = [stored("p1", C2, reason="OFFLINE_CONFLICT")]
    verdict = check(answers=[], stored=payments, digit=[], injected={})

    settled = settle(
        verdict,
        run_with(quarantined("k1", "p1", C2, "BILL_ALREADY_PAID"), counter=(C1,)),
        payments,
        {},
    )

    assert not settled["ok"]
    assert settled["counts"]["unexplained"] == 1


def test_an_unanswered_or_lost_or_changed_payment_fails() -> None:
    never = Item(key="k-never", consumer=C1, body={}, outcomes=["refused", "refused"])
    gone = Item(key="k-gone", consumer=C2, body={}, outcomes=["accepted"], payment_ids=["p9"])
    twice = Item(
        key="k-twice", consumer=C1, body={}, outcomes=["accepted"], payment_ids=["p1", "p2"]
    )
    run = run_with(never, gone, twice)
    run.changed_on_reupload.append("k-twice: another payment id")
    verdict = check(answers=[], stored=[], digit=[], injected={})

    settled = settle(verdict, run, [], {})

    assert {f.get("key") for f in settled["failures"]["lost"]} >= {"k-never", "k-gone"}
    assert settled["counts"]["duplicated"] == 2
    assert not settled["ok"]


def test_offline_consumers_come_after_the_fleets() -> None:
    reserved = reserve(60, 40)
    assert reserved.extra_consumers == 40 + len(reserved.consumers)
    assert len(set(reserved.consumers)) == len(reserved.consumers) >= 6
