"""How the receipt numbers an operator gives (console field, CLI `--receipt`) are read."""

from __future__ import annotations

import pytest

from integrator.payments.resolutions import receipt_numbers_in


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("12/2026-27/000101", ("12/2026-27/000101",)),
        (" 12/2026-27/000101 ", ("12/2026-27/000101",)),
        ("12/2026-27/000101, 12/2026-27/000102", ("12/2026-27/000101", "12/2026-27/000102")),
        ("12/2026-27/000102 12/2026-27/000101", ("12/2026-27/000102", "12/2026-27/000101")),
        ("A,,B,\nA", ("A", "B")),
        (" , ", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_receipt_numbers_are_separated_by_commas_or_spaces_each_once_in_order(
    given: str | None, read: tuple[str, ...]
) -> None:
    assert receipt_numbers_in(given) == read
