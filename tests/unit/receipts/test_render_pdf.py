"""The PDF receipt, checked the way a person would: rasterised with pdftoppm, read back with
pdftotext, and its QR code decoded from the picture (zxing-cpp). Needs poppler-utils
(bin/ensure-poppler, which `make test` runs)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from integrator.receipts import (
    ReceiptDocument,
    ReceiptStatus,
    amount_in_words,
    indian_grouping,
    render_pdf,
)
from tests.unit.receipts.receipt_factories import CHEQUE, GOLDEN_DOCUMENTS, make_document

DPI = 150
PAGE_MM = {"A6": (105, 148), "A4": (210, 297)}


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pngs: tuple[Path, ...]
    text: str  # pdftotext -layout's output, whitespace collapsed to single spaces


Render = Callable[[str, str], Rendered]  # (document name, page) -> the rendered receipt


@pytest.fixture(scope="module")
def poppler() -> None:
    missing = [tool for tool in ("pdftoppm", "pdftotext") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run bin/ensure-poppler (make test does)")


@pytest.fixture(scope="module")
def render(poppler: None, tmp_path_factory: pytest.TempPathFactory) -> Render:
    folder = tmp_path_factory.mktemp("receipts")

    @cache
    def _render(name: str, page: str) -> Rendered:
        pdf = render_pdf(DOCUMENTS[name], page=page)
        path = folder / f"{name}-{page}.pdf"
        path.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(DPI), path, folder / f"{name}-{page}"],
            check=True,
            timeout=60,
        )
        text = subprocess.run(
            ["pdftotext", "-layout", path, "-"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        pngs = tuple(sorted(folder.glob(f"{name}-{page}-*.png")))
        return Rendered(pdf=pdf, pngs=pngs, text=" ".join(text.split()))

    return _render


DOCUMENTS: dict[str, ReceiptDocument] = {
    **GOLDEN_DOCUMENTS,
    "dishonoured": replace(CHEQUE, status=ReceiptStatus.DISHONOURED),
    "original": make_document(duplicate=False),
}
PAGES = ("A6", "A4")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", ["one_bill", "three_bills"])
def test_every_page_rasterises_at_the_paper_size(render: Render, name: str, page: str) -> None:
    rendered = render(name, page)
    assert rendered.pngs, "pdftoppm made no page"
    width_mm, height_mm = PAGE_MM[page]
    for png in rendered.pngs:
        with Image.open(png) as image:
            width, height = image.size
        assert abs(width - width_mm / 25.4 * DPI) <= 1
        assert abs(height - height_mm / 25.4 * DPI) <= 1


@pytest.mark.parametrize("page", PAGES)
def test_one_bill_fits_one_page(render: Render, page: str) -> None:
    assert len(render("one_bill", page).pngs) == 1


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_text_says_what_the_receipt_says(render: Render, name: str, page: str) -> None:
    doc = DOCUMENTS[name]
    text = render(name, page).text
    assert doc.city_name in text
    assert doc.tenant_id in text
    for number in doc.receipt_numbers:
        assert number in text
    assert amount_in_words(doc.total_paid) in text
    assert f"TOTAL PAID Rs. {indian_grouping(doc.total_paid)}" in text
    assert ("DUPLICATE" in text) == doc.duplicate
    assert ("CANCELLED" in text) == (doc.status is ReceiptStatus.CANCELLED)
    assert ("DISHONOURED" in text) == (doc.status is ReceiptStatus.DISHONOURED)


@pytest.mark.parametrize("page", PAGES)
def test_figures_are_grouped_the_indian_way(render: Render, page: str) -> None:
    assert "Rs. 1,23,45,678" in render("cheque", page).text
    three = render("three_bills", page).text
    for figure in ("1,23,456", "-12,346", "1,146.50", "Rs. 1,13,579", "Rs. 6,421"):
        assert figure in three


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", ["one_bill", "three_bills", "cancelled"])
def test_the_qr_code_decodes_to_the_receipt_numbers(render: Render, name: str, page: str) -> None:
    found = []
    for png in render(name, page).pngs:
        with Image.open(png) as image:
            found += [code.text for code in zxingcpp.read_barcodes(image)]
    assert found == [DOCUMENTS[name].qr_payload]


def test_a_long_receipt_numbers_its_pages(render: Render) -> None:
    rendered = render("three_bills", "A6")
    count = len(rendered.pngs)
    assert count > 1
    assert f"page {count} of {count}" in rendered.text


@pytest.mark.parametrize("page", PAGES)
def test_the_same_document_gives_the_same_bytes(page: str) -> None:
    first = render_pdf(GOLDEN_DOCUMENTS["three_bills"], page=page)
    assert first.startswith(b"%PDF-")
    assert render_pdf(GOLDEN_DOCUMENTS["three_bills"], page=page) == first


def test_only_a6_and_a4_are_offered() -> None:
    with pytest.raises(ValueError, match="page"):
        render_pdf(make_document(), page="Letter")
