"""The Redis keys the registration worker adds (beside RQ's own `rq:` keys).

They follow `integrator.store.keys` (same prefix, same escaping) and belong there; they live here
only until the lead moves them (store/keys.py is another engineer's file).
"""

from __future__ import annotations

from integrator.store.keys import PREFIX


def _part(value: str) -> str:
    return value.replace("%", "%25").replace(":", "%3A")


def schedule_lock(payment_id: str) -> str:
    """Short lock serialising `RqRegistrationScheduler.schedule` for one payment (PX)."""
    return f"{PREFIX}:jobs:schedule-lock:{_part(payment_id)}"


def digit_down_since() -> str:
    """ISO time of the first attempt that found DIGIT unavailable; deleted when it answers."""
    return f"{PREFIX}:digit:down-since"


def waiting_for_digit() -> str:
    """Set of PENDING payment ids whose last attempt found DIGIT unavailable."""
    return f"{PREFIX}:registration:waiting-for-digit"


def sweep_lock() -> str:
    """Single-flight lock: one worker sweeps / probes per period (PX = period)."""
    return f"{PREFIX}:jobs:maintenance-lock"
