"""OutageHold: after DIGIT gave no answer nobody asks it during the hold, then one probe."""

from __future__ import annotations

import threading

import pytest

from integrator.payments.outage_hold import OutageHold


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_everyone_may_ask_until_digit_fails_to_answer() -> None:
    hold = OutageHold(2.0, clock=Clock())
    assert all(hold.may_ask() for _ in range(5))
    assert not hold.holding


def test_nobody_asks_during_the_hold() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 1.9
    assert not any(hold.may_ask() for _ in range(5))


def test_once_the_hold_ran_out_exactly_one_caller_probes() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 2.0
    assert [hold.may_ask() for _ in range(4)] == [True, False, False, False]


def test_concurrent_callers_get_one_probe_between_them() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 5.0
    start = threading.Barrier(16)
    answers: list[bool] = []

    def ask() -> None:
        start.wait()
        answers.append(hold.may_ask())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(True) == 1


def test_a_probe_that_is_answered_opens_the_way_for_everyone() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 2.0
    assert hold.may_ask()
    hold.answered()
    assert all(hold.may_ask() for _ in range(3))
    assert not hold.holding


def test_a_probe_without_an_answer_holds_again_from_then() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 2.0
    assert hold.may_ask()
    clock.now += 1.0
    hold.no_answer()
    clock.now += 1.5
    assert not hold.may_ask()
    clock.now += 0.5
    assert hold.may_ask()


def test_a_probe_that_never_reports_is_replaced_after_another_hold() -> None:
    clock = Clock()
    hold = OutageHold(2.0, clock=clock)
    hold.no_answer()
    clock.now += 2.0
    assert hold.may_ask()  # its request dies without reporting
    clock.now += 1.9
    assert not hold.may_ask()
    clock.now += 0.1
    assert hold.may_ask()


def test_the_hold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        OutageHold(0)
