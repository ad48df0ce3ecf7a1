"""The thermal slip: golden files at 32 and 48 columns, and the rules every line keeps.

Regenerate the golden files after a deliberate layout change, then review the diff:
    REGENERATE_RECEIPT_GOLDEN=1 .venv/bin/python -m pytest tests/unit/receipts -q
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from integrator.receipts import ReceiptStatus, render_text
from tests.unit.receipts.receipt_factories import (
    CHEQUE,
    GOLDEN_DOCUMENTS,
    make_bill,
    make_document,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("REGENERATE_RECEIPT_GOLDEN") == "1"
WIDTHS = (32, 48)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(GOLDEN_DOCUMENTS))
def test_slip_matches_its_golden_file(name: str, width: int) -> None:
    rendered = render_text(GOLDEN_DOCUMENTS[name], width=width)
    path = GOLDEN / f"{name}_{width}.txt"
    if REGENERATE:
        path.write_text(rendered, encoding="ascii")
    assert rendered == path.read_text(encoding="ascii")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(GOLDEN_DOCUMENTS))
def test_every_line_fits_the_paper_and_is_printable_ascii(name: str, width: int) -> None:
    for line in render_text(GOLDEN_DOCUMENTS[name], width=width).splitlines():
        assert len(line) <= width, line
        assert line == line.rstrip(), f"trailing blanks: {line!r}"
        assert all(" " <= ch <= "~" for ch in line), line


@pytest.mark.parametrize("width", WIDTHS)
def test_amounts_are_right_aligned_against_their_labels(width: int) -> None:
    lines = render_text(make_document(), width=width).splitlines()
    paid = next(line for line in lines if line.startswith("Amount paid"))
    assert paid.endswith("Rs. 815")
    assert len(paid) == width


def test_a_duplicate_says_so_at_top_bottom_and_on_each_bill() -> None:
    doc = make_document(
        duplicate=True,
        bills=(make_bill(receipt_number="R-1"), make_bill(receipt_number="R-2")),
    )
    lines = render_text(doc).splitlines()
    assert lines[0] == "*" * 32 and lines[1].strip() == "DUPLICATE"
    assert lines[-1] == "*" * 32 and "DUPLICATE" in lines[-3]
    headings = [line for line in lines if line.startswith("BILL ")]
    assert headings == ["BILL 1 OF 2 - DUPLICATE", "BILL 2 OF 2 - DUPLICATE"]


def test_an_original_print_never_says_duplicate() -> None:
    assert "DUPLICATE" not in render_text(make_document(duplicate=False), width=48)


@pytest.mark.parametrize(
    ("status", "word"),
    [(ReceiptStatus.CANCELLED, "CANCELLED"), (ReceiptStatus.DISHONOURED, "DISHONOURED")],
)
def test_a_void_receipt_opens_and_closes_with_its_banner(status: ReceiptStatus, word: str) -> None:
    lines = render_text(replace(CHEQUE, status=status), width=48).splitlines()
    assert lines[1].strip() == word
    assert "NOT VALID" in lines[2]
    assert lines[-3].strip() == word


def test_the_qr_payload_is_printed_as_text() -> None:
    doc = GOLDEN_DOCUMENTS["three_bills"]
    text = render_text(doc, width=48)
    assert "11/2026-27/000124, 11/2026-27/000125," in text
    assert "PT/11/2026-27/000126" in text


def test_names_are_folded_to_ascii_and_long_ones_wrap() -> None:
    doc = make_document(
        bills=(make_bill(consumer_name="Śrī Rāmachandra Sāhnī\tदेव Venkatanarasimharajuvaripeta"),)
    )
    lines = render_text(doc, width=32).splitlines()
    start = lines.index("Name")
    assert [line.strip() for line in lines[start + 1 : start + 3]] == [
        "Sri Ramachandra Sahni ???",
        "Venkatanarasimharajuvaripeta",
    ]


@pytest.mark.parametrize("width", [0, 40, 80])
def test_only_58_and_80_mm_paper_widths_are_offered(width: int) -> None:
    with pytest.raises(ValueError, match="width"):
        render_text(make_document(), width=width)
