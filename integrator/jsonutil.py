"""JSON that keeps money exact: every number is parsed as `Decimal` and dumped unchanged.

One module for the app, the DIGIT client and the store, so no money path ever meets a float.
simplejson is used because it dumps `Decimal` as a JSON number (the stdlib cannot).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import simplejson


class JSONNumberError(ValueError):
    """A number JSON allows but money cannot use (NaN, Infinity)."""


def _refuse_constant(name: str) -> Any:
    raise JSONNumberError(f"{name} is not a number")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Built once: `simplejson.loads/dumps` with options build a new decoder/encoder on every call,
# which costs more than parsing a DIGIT answer (every request parses and dumps several documents).
_DECODER = simplejson.JSONDecoder(
    parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant
)
_ENCODERS = {
    compact: simplejson.JSONEncoder(
        use_decimal=True,
        default=_default,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":") if compact else None,
        sort_keys=False,
    )
    for compact in (True, False)
}


def loads(text: str | bytes) -> Any:
    """Parse JSON with every number (integers included) as Decimal; refuse NaN/Infinity."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _DECODER.decode(text)


def dumps(value: Any, *, compact: bool = True) -> str:
    """Serialise with Decimal as plain JSON numbers (never floats, never strings)."""
    return _ENCODERS[compact].encode(value)
