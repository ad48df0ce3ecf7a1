"""Rupee amounts as a receipt prints them: Indian digit grouping and the amount in words.

    whole_rupees(amount, what)   the amount as an int; ValueError if it is not a whole Decimal
    indian_grouping(amount)      Decimal("123456") -> "1,23,456" (lakh/crore grouping)
    grouping_with_paise(amount)  Decimal("1234.5") -> "1,234.50" (tax heads only, see document.py)
    amount_in_words(amount)      Decimal("123456") ->
                                 "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six Only"

Amounts paid and due are whole rupees throughout the integrator, so these refuse a fraction rather
than round it: a receipt that silently printed a rounded figure would disagree with DIGIT's record.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["amount_in_words", "grouping_with_paise", "indian_grouping", "whole_rupees"]

# fmt: off
_ONES = (
    "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
    "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen",
    "Nineteen",
)
_TENS = ("", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety")
# fmt: on

# The Indian system's units, largest first. Amounts of a hundred crore and more say "Crore" once,
# after the number of crores in words ("One Thousand Crore"), as Indian cheques and receipts do.
_CRORE = 10**7
_UNITS = ((10**5, "Lakh"), (10**3, "Thousand"), (10**2, "Hundred"))

_PAISE = Decimal("0.01")


def whole_rupees(amount: Decimal, what: str = "amount") -> int:
    """`amount` as an int of rupees; ValueError naming `what` unless it is a whole Decimal."""
    if not isinstance(amount, Decimal):
        raise ValueError(f"{what} must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"{what} must be a finite amount, got {amount}")
    if amount != amount.to_integral_value():
        raise ValueError(f"{what} must be whole rupees, got {amount}")
    return int(amount)


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "Hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
    if n:
        words.append(_ONES[n])
    return words


def _in_words(n: int) -> list[str]:
    """Words for n > 0 in the Indian system (no "and", as DIGIT's receipts and cheques print)."""
    words: list[str] = []
    if n >= _CRORE:
        words += [*_in_words(n // _CRORE), "Crore"]
        n %= _CRORE
    for size, name in _UNITS:
        if n >= size:
            words += [*_below_thousand(n // size), name]
            n %= size
    return words + _below_thousand(n)


def amount_in_words(amount: Decimal) -> str:
    """The amount as a receipt writes it out: "Rupees ... Only"; whole, non-negative rupees only."""
    rupees = whole_rupees(amount)
    if rupees < 0:
        raise ValueError(f"amount in words must not be negative, got {amount}")
    words = _in_words(rupees) if rupees else ["Zero"]
    return " ".join(["Rupees", *words, "Only"])


def _group_digits(digits: str) -> str:
    """'1234567' -> '12,34,567': the last three digits, then pairs."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


def indian_grouping(amount: Decimal) -> str:
    """Whole rupees grouped the Indian way: 1,23,456 and 12,34,56,789; a minus sign if negative."""
    rupees = whole_rupees(amount)
    sign = "-" if rupees < 0 else ""
    return sign + _group_digits(str(abs(rupees)))


def grouping_with_paise(amount: Decimal) -> str:
    """Indian grouping with two decimals (1,234.50), for DIGIT's tax heads that carry paise.

    ValueError if the amount has more than two decimals: DIGIT's demand details never do.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"a tax amount must be a finite Decimal, got {amount!r}")
    if amount != amount.quantize(_PAISE):
        raise ValueError(f"a tax amount has at most two decimals (paise), got {amount}")
    sign = "-" if amount < 0 else ""
    rupees, paise = f"{abs(amount):.2f}".split(".")
    return f"{sign}{_group_digits(rupees)}.{paise}"
