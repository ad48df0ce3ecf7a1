"""The offline cash limit under uploads of one device at the same moment: the integrator and the
DIGIT sandbox over real HTTP, a real ledger and Redis. Uploads of a device that carry CASH are
judged one at a time (store/upload_locks.py), so together they never take more CASH than the
device's limit; one that cannot wait long enough is answered 409 OFFLINE_UPLOAD_IN_PROGRESS."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import requests

from integrator.services import Services
from integrator.settings import Settings
from integrator.store.upload_locks import UPLOAD_LOCK_WAIT_SECONDS
from tests.e2e.conftest import Pos, body_of
from tests.e2e.test_offline import DEVICE, bill_of, by_key, item, offline_settings, run, upload

#: Amritsar bills of distinct consumers (one live payment per consumer at a time).
CONSUMERS = (
    ("WS/107/2019-20/000022", "WS"),
    ("SW/107/2019-20/000011", "SW"),
    ("WS/107/2019-20/000023", "WS"),
    ("PT-107-000124", "PT"),
    ("SW/107/2019-20/000012", "SW"),
    ("WS/107/2020-21/000031", "WS"),
)
#: How long each upload, after reading what the device holds, waits for the others to read it
#: too (when they can): without the device's lock every upload reads the same sum, every time.
READ_TOGETHER_SECONDS = 1.0


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    return offline_settings(settings)  # with the operator that sets the device's limit


def _all_at_once(pos: Pos, batches: Sequence[list[dict[str, Any]]]) -> list[requests.Response]:
    """Send every batch from its own thread, released together."""
    start = threading.Barrier(len(batches))
    answers: list[requests.Response | None] = [None] * len(batches)

    def send(i: int) -> None:
        start.wait(timeout=30)
        answers[i] = upload(pos, batches[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(a is not None for a in answers), "an upload did not answer"
    return [a for a in answers if a is not None]


def _read_together(services: Services, monkeypatch: pytest.MonkeyPatch, uploads: int) -> None:
    """Widen the race: each upload, once it has read the device's CASH held, waits until all
    `uploads` have read it or READ_TOGETHER_SECONDS have passed. Serialised uploads cannot
    all meet: the first one's wait runs out and the rest go on at once."""
    store = services.offline_store
    read = store.cash_held
    met = threading.Barrier(uploads)

    def cash_held(device_id: str, *, excluding_keys: Sequence[str] = ()) -> Decimal:
        held = read(device_id, excluding_keys=excluding_keys)
        with contextlib.suppress(threading.BrokenBarrierError):
            met.wait(timeout=READ_TOGETHER_SECONDS)
        return held

    monkeypatch.setattr(store, "cash_held", cash_held)


def test_uploads_of_one_device_at_the_same_moment_never_take_more_cash_than_its_limit(
    pos: Pos, services: Services, e2e_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bills = [bill_of(pos, consumer, service) for consumer, service in CONSUMERS]
    amounts = [Decimal(str(b["totalAmount"])) for b in bills]
    limit = sum(amounts, Decimal(0)) // 2
    assert min(amounts) <= limit < sum(amounts, Decimal(0))
    code, out = run(
        e2e_settings, "cash", "limits", "--device", DEVICE, "--offline-cash-limit", str(limit)
    )
    assert code == 0, out
    # each upload alone fits under the limit; together they do not
    batches = [[item(f"race-{i}", b, amounts[i], hours_ago=1)] for i, b in enumerate(bills)]
    _read_together(services, monkeypatch, len(batches))

    answers = _all_at_once(pos, batches)

    entries = [by_key(a)[f"race-{i}"] for i, a in enumerate(answers)]
    accepted = [i for i, e in enumerate(entries) if e["outcome"] == "accepted"]
    quarantined = [i for i, e in enumerate(entries) if e["outcome"] == "quarantined"]
    taken = sum((amounts[i] for i in accepted), Decimal(0))
    assert taken <= limit, f"{taken} accepted in cash, the limit is {limit}"
    assert sorted(accepted + quarantined) == list(range(len(batches))), entries
    assert quarantined, "the uploads together exceed the limit: some must be quarantined"
    for i in quarantined:
        conflict = entries[i]["conflict"]
        assert conflict["code"] == "OFFLINE_CASH_LIMIT_EXCEEDED", entries[i]
        # judged on what the uploads before it left in hand: it did not fit then...
        assert Decimal(str(conflict["offlineCashHeldBefore"])) + amounts[i] > limit
        # ...nor would it now: nothing was quarantined that the limit had room for
        assert taken + amounts[i] > limit
    device = services.devices.get_by_name(DEVICE)
    assert device is not None
    assert services.offline_store.cash_held(device.id) == taken

    # uploading the same batches again answers each from what was stored
    for i, batch in enumerate(batches):
        again = by_key(upload(pos, batch))[f"race-{i}"]
        assert again["replayed"] is True
        assert again["outcome"] == entries[i]["outcome"]
        assert again["payment"]["id"] == entries[i]["payment"]["id"]


def test_an_upload_that_cannot_wait_for_the_devices_other_upload_is_told_to_come_back(
    pos: Pos, services: Services
) -> None:
    device = services.devices.get_by_name(DEVICE)
    assert device is not None
    ws, sw = (
        bill_of(pos, "WS/107/2019-20/000022", "WS"),
        bill_of(pos, "SW/107/2019-20/000011", "SW"),
    )

    with services.upload_locks.hold(device.id):  # another upload of the device, still running
        # a batch without CASH neither reads nor changes the device's offline cash: not held up
        card = {
            **item("busy-card", sw, sw["totalAmount"], mode="CARD"),
            "transactionNumber": "RRN-000123456",
            "instrumentNumber": "4111-XXXX-1111",
        }
        began = time.monotonic()
        not_cash = upload(pos, [card])
        assert by_key(not_cash)["busy-card"]["outcome"] == "accepted"
        assert time.monotonic() - began < UPLOAD_LOCK_WAIT_SECONDS

        began = time.monotonic()
        busy = upload(pos, [item("busy-cash", ws, 500)])
        waited = time.monotonic() - began

    assert busy.status_code == 409, busy.text
    assert busy.headers["Content-Type"].startswith("application/problem+json")
    problem = body_of(busy)
    assert problem["code"] == "OFFLINE_UPLOAD_IN_PROGRESS"
    assert problem["type"] == "/docs#problem-OFFLINE_UPLOAD_IN_PROGRESS"
    assert int(busy.headers["Retry-After"]) > 0
    assert waited >= UPLOAD_LOCK_WAIT_SECONDS - 0.5  # it waited its turn first
    assert services.payments_store.get_by_idempotency(device.id, "busy-cash") is None
    # once the other upload is done, the same batch goes through
    assert by_key(upload(pos, [item("busy-cash", ws, 500)]))["busy-cash"]["outcome"] == "accepted"


@pytest.mark.settings(database_pool_size=1)
def test_an_upload_holding_its_devices_lock_still_gets_a_connection_to_store_its_items(
    pos: Pos, services: Services
) -> None:
    # the lock is held on a pool of its own: on the ledger pool's only connection, the upload
    # would wait for itself and its items would be refused LEDGER_UNAVAILABLE
    ws = bill_of(pos, "WS/107/2019-20/000022", "WS")

    answer = by_key(upload(pos, [item("one-conn", ws, 500)]))

    assert answer["one-conn"]["outcome"] == "accepted", answer


def test_the_devices_lock_is_released_when_an_upload_fails(services: Services) -> None:
    device, _key = services.devices.add("pos-amritsar-9", ["pb.amritsar"])
    with pytest.raises(RuntimeError), services.upload_locks.hold(device.id):
        raise RuntimeError("the upload broke half way")

    began = time.monotonic()
    with services.upload_locks.hold(device.id):
        assert time.monotonic() - began < 1.0
