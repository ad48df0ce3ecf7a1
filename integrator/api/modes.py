"""Which request fields each payment mode needs: the domain's table, read for the API's documents.

    MODE_RULES[PaymentMode.CHEQUE] -> ModeRule(required=("instrumentNumber", "instrumentDate"),
                                               date_rule="not in the future, at most 89 days old")

Built from the mode sets `integrator.payments.rules.check_instrument` checks with
(INSTRUMENT_DATE_MODES, TRANSACTION_MODES, CHEQUE_DD_MODES, NOT_FUTURE_MODES), never a copy of
them: the OpenAPI document (`oneOf` per group of modes, `x-payment-mode-rules`) and the /docs table
are rendered from here, and a test holds this table to `check_instrument`'s answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from integrator.payments.models import PaymentMode
from integrator.payments.rules import (
    CHEQUE_DD_MODES,
    CHEQUE_OLDEST_DAYS_BACK,
    INSTRUMENT_DATE_MODES,
    NOT_FUTURE_MODES,
    TRANSACTION_MODES,
)

INSTRUMENT_NUMBER = "instrumentNumber"
INSTRUMENT_DATE = "instrumentDate"
TRANSACTION_NUMBER = "transactionNumber"


@dataclass(frozen=True, kw_only=True)
class ModeRule:
    """What a payment in `mode` must carry besides the common fields."""

    mode: PaymentMode
    required: tuple[str, ...]
    date_rule: str | None

    @property
    def description(self) -> str:
        if not self.required:
            return f"{self.mode.value}: no instrument fields."
        text = f"{self.mode.value}: requires {' and '.join(self.required)}"
        return f"{text}; instrumentDate {self.date_rule}." if self.date_rule else f"{text}."


def _rule(mode: PaymentMode) -> ModeRule:
    required: list[str] = []
    if mode in INSTRUMENT_DATE_MODES or mode in TRANSACTION_MODES:
        required.append(INSTRUMENT_NUMBER)
    if mode in INSTRUMENT_DATE_MODES:
        required.append(INSTRUMENT_DATE)
    if mode in TRANSACTION_MODES:
        required.append(TRANSACTION_NUMBER)
    date_rule = None
    if mode in CHEQUE_DD_MODES:
        date_rule = (
            f"must not be in the future nor older than {CHEQUE_OLDEST_DAYS_BACK} days "
            "(in DIGIT's time zone)"
        )
    elif mode in NOT_FUTURE_MODES:
        date_rule = "must not be in the future (in DIGIT's time zone)"
    return ModeRule(mode=mode, required=tuple(required), date_rule=date_rule)


MODE_RULES: Mapping[PaymentMode, ModeRule] = {mode: _rule(mode) for mode in PaymentMode}


def mode_groups() -> list[tuple[tuple[str, ...], list[str]]]:
    """(required fields, the modes needing exactly those), in PaymentMode order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for rule in MODE_RULES.values():
        groups.setdefault(rule.required, []).append(rule.mode.value)
    return list(groups.items())


def required_by(field: str) -> str:
    """A field's description: the modes that require it."""
    modes = [rule.mode.value for rule in MODE_RULES.values() if field in rule.required]
    return f"Required for {', '.join(modes)}." if modes else "Optional."
