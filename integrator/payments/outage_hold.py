"""When DIGIT gave no usable answer, a process stops asking it on the device's time for a while.

A circuit breaker with one probe: after a failure, payments are checked against snapshots and
handed to the worker for `seconds`; then exactly one payment asks DIGIT again (the probe) while
the others keep going to the worker until the probe's answer is known. Without the single probe,
every request in flight when the hold runs out tries DIGIT at once: at a hundred devices that is
a burst of failing calls (and a stored attempt each) every few seconds of an outage, and a burst
on DIGIT when it comes back. A probe that never reports (its request died) is replaced after
another `seconds`.

Per process, in memory: the hold is an optimisation of where a payment is sent, never a
correctness rule (the worker registers whatever the counter did not).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class OutageHold:
    """Whether this process may ask DIGIT now, given its recent answers."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds <= 0:
            raise ValueError("the hold must be positive")
        self._seconds = seconds
        self._clock = clock
        self._until = 0.0  # 0: DIGIT answered last; else when the next probe may go
        self._lock = threading.Lock()

    def may_ask(self) -> bool:
        """True when DIGIT answered last, or for the one caller that probes once the hold ran
        out (the next probe then waits another hold unless this one reports)."""
        until = self._until
        if until == 0.0:
            return True
        now = self._clock()
        if now < until:
            return False
        with self._lock:
            if now < self._until:  # another caller took the probe meanwhile
                return False
            self._until = now + self._seconds
            return True

    def no_answer(self) -> None:
        """DIGIT gave no usable answer: hold for `seconds` from now."""
        self._until = self._clock() + self._seconds

    def answered(self) -> None:
        """DIGIT answered: everyone may ask again."""
        self._until = 0.0

    @property
    def holding(self) -> bool:
        return self._until != 0.0
