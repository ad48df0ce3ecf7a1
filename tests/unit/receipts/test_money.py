"""Rupees in words (Indian system) and Indian digit grouping, as tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrator.receipts import amount_in_words, indian_grouping
from integrator.receipts.money import grouping_with_paise, whole_rupees

D = Decimal


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "Rupees Zero Only"),
        ("1", "Rupees One Only"),
        ("15", "Rupees Fifteen Only"),
        ("20", "Rupees Twenty Only"),
        ("99", "Rupees Ninety Nine Only"),
        ("100", "Rupees One Hundred Only"),
        ("101", "Rupees One Hundred One Only"),
        ("815", "Rupees Eight Hundred Fifteen Only"),
        ("1000", "Rupees One Thousand Only"),
        ("10010", "Rupees Ten Thousand Ten Only"),
        ("99999", "Rupees Ninety Nine Thousand Nine Hundred Ninety Nine Only"),
        ("100000", "Rupees One Lakh Only"),
        ("123456", "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six Only"),
        ("1000001", "Rupees Ten Lakh One Only"),
        (
            "12345678",
            "Rupees One Crore Twenty Three Lakh Forty Five Thousand Six Hundred Seventy Eight Only",
        ),
        ("10000000", "Rupees One Crore Only"),
        ("100000000", "Rupees Ten Crore Only"),
        ("10000000000", "Rupees One Thousand Crore Only"),
        ("1000000000000", "Rupees One Lakh Crore Only"),
        ("1200.00", "Rupees One Thousand Two Hundred Only"),  # trailing zeros are whole rupees
    ],
)
def test_amount_in_words_follows_the_indian_system(amount: str, words: str) -> None:
    assert amount_in_words(D(amount)) == words


@pytest.mark.parametrize(
    ("amount", "grouped"),
    [
        ("0", "0"),
        ("7", "7"),
        ("999", "999"),
        ("1000", "1,000"),
        ("99999", "99,999"),
        ("123456", "1,23,456"),
        ("1234567", "12,34,567"),
        ("123456789", "12,34,56,789"),
        ("1000000000", "1,00,00,00,000"),
        ("-12346", "-12,346"),  # a rebate head
    ],
)
def test_indian_grouping_puts_commas_after_thousands_then_every_two_digits(
    amount: str, grouped: str
) -> None:
    assert indian_grouping(D(amount)) == grouped


@pytest.mark.parametrize(
    ("amount", "grouped"),
    [("0", "0.00"), ("1146.5", "1,146.50"), ("-0.16", "-0.16"), ("123456.78", "1,23,456.78")],
)
def test_tax_amounts_with_paise_show_two_decimals(amount: str, grouped: str) -> None:
    assert grouping_with_paise(D(amount)) == grouped


@pytest.mark.parametrize("amount", ["0.5", "100.01", "123456.999"])
def test_a_fraction_of_a_rupee_is_refused_not_rounded(amount: str) -> None:
    with pytest.raises(ValueError, match="whole rupees"):
        amount_in_words(D(amount))
    with pytest.raises(ValueError, match="whole rupees"):
        indian_grouping(D(amount))


@pytest.mark.parametrize("amount", [1.0, 100, "100", D("NaN"), D("Infinity")])
def test_only_a_finite_decimal_is_an_amount(amount: object) -> None:
    with pytest.raises(ValueError):
        whole_rupees(amount)  # type: ignore[arg-type]


def test_a_negative_amount_has_no_words() -> None:
    with pytest.raises(ValueError, match="negative"):
        amount_in_words(D(-1))


def test_a_tax_amount_finer_than_paise_is_refused() -> None:
    with pytest.raises(ValueError, match="paise"):
        grouping_with_paise(D("0.125"))
