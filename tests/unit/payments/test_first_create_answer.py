"""Who answers the device first: a refusal of the first create, or the 202 after the budget."""

from __future__ import annotations

import threading

from integrator.payments.first_create import DeviceWaiting


def test_a_refusal_before_the_202_is_the_answer() -> None:
    waiting = DeviceWaiting()
    assert waiting.refuse() is True
    assert waiting.accepted() is False
    assert waiting.refuse() is True  # decided once


def test_after_the_202_a_refusal_is_not_the_answer() -> None:
    waiting = DeviceWaiting()
    assert waiting.accepted() is True
    assert waiting.refuse() is False
    assert waiting.accepted() is True


def test_racing_sides_agree_on_one_answer() -> None:
    for _ in range(200):
        waiting = DeviceWaiting()
        results: dict[str, bool] = {}
        barrier = threading.Barrier(2)

        def side(name: str, call: object) -> None:
            barrier.wait()
            results[name] = call()  # type: ignore[operator]

        threads = [
            threading.Thread(target=side, args=("refuse", waiting.refuse)),
            threading.Thread(target=side, args=("accepted", waiting.accepted)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results["refuse"] != results["accepted"]
