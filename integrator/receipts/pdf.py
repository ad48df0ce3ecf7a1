"""The receipt as a PDF (reportlab), for a viewer, a laser printer or a download.

    render_pdf(doc, page="A6")  the PDF bytes; "A6" (105 x 148 mm, a receipt) or "A4"

The sections of layout.receipt_sections (banners at the top only) are measured, split into pages
(a section moves to the next page whole when it fits there), then drawn: banners as filled boxes
(red for CANCELLED/DISHONOURED), rows with the label left and the value right, and the QR
code of the receipt numbers as vector squares (reportlab's own QR widget, so no image library is
involved). Every page of a duplicate carries a diagonal "DUPLICATE" watermark, every page of a
void receipt a red "CANCELLED"/"DISHONOURED" one. A receipt longer than a page says "page i of n".

The output is deterministic: reportlab's invariant mode fixes the creation date and document id,
so the same document always gives the same bytes. Only the PDF's standard fonts are used
(Helvetica), hence the ASCII text of layout.printable.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, A6
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from integrator.receipts.document import ReceiptDocument, ReceiptStatus
from integrator.receipts.layout import (
    Banner,
    Block,
    Heading,
    Qr,
    Row,
    Rule,
    Text,
    Title,
    Tone,
    receipt_sections,
)

__all__ = ["PAGES", "render_pdf"]

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
ALERT_RED = colors.Color(0.75, 0.05, 0.05)
SHADE = colors.Color(0.9, 0.9, 0.9)


@dataclass(frozen=True, kw_only=True)
class PageStyle:
    size: tuple[float, float]
    margin: float
    font_size: float
    leading: float
    title_size: float
    qr_size: float
    watermark_size: float


PAGES = {
    "A6": PageStyle(
        size=A6,
        margin=6 * mm,
        font_size=7,
        leading=8.6,
        title_size=9,
        qr_size=24 * mm,
        watermark_size=44,
    ),
    "A4": PageStyle(
        size=A4,
        margin=20 * mm,
        font_size=10,
        leading=13,
        title_size=14,
        qr_size=40 * mm,
        watermark_size=96,
    ),
}

Draw = Callable[[Canvas, float, float], None]  # (canvas, left x, top y)


@dataclass(frozen=True)
class Placed:
    """A block measured for the page's width: its height and how to draw it."""

    height: float
    draw: Draw


class _Measure:
    """Turns blocks into Placed pieces for one page style."""

    def __init__(self, style: PageStyle) -> None:
        self.style = style
        self.width = style.size[0] - 2 * style.margin

    def _lines(self, text: str, font: str, size: float, width: float) -> list[str]:
        return simpleSplit(text, font, size, width) or [""]

    def banner(self, block: Banner) -> Placed:
        s = self.style
        size = s.title_size
        lead = size * 1.25
        lines = [line for text in block.lines for line in self._lines(text, BOLD, size, self.width)]
        pad = lead * 0.25
        height = pad * 2 + lead * len(lines)

        def draw(c: Canvas, x: float, y: float) -> None:
            alert = block.tone is Tone.ALERT
            c.setFillColor(ALERT_RED if alert else colors.white)
            c.setStrokeColor(ALERT_RED if alert else colors.black)
            c.setLineWidth(1.5)
            c.rect(x, y - height, self.width, height, stroke=1, fill=1)
            c.setFillColor(colors.white if alert else colors.black)
            c.setFont(BOLD, size)
            for i, line in enumerate(lines):
                c.drawCentredString(
                    x + self.width / 2, y - pad - lead * (i + 1) + lead * 0.25, line
                )
            c.setFillColor(colors.black)

        return Placed(height + s.leading * 0.4, draw)

    def title(self, block: Title) -> Placed:
        s = self.style
        font, size = (BOLD, s.title_size) if block.strong else (REGULAR, s.font_size)
        lead = size * 1.25
        lines = self._lines(block.text, font, size, self.width)

        def draw(c: Canvas, x: float, y: float) -> None:
            c.setFont(font, size)
            for i, line in enumerate(lines):
                c.drawCentredString(x + self.width / 2, y - lead * (i + 1) + lead * 0.2, line)

        return Placed(lead * len(lines), draw)

    def heading(self, block: Heading) -> Placed:
        s = self.style
        lines = self._lines(block.text, BOLD, s.font_size, self.width)
        height = s.leading * len(lines) + s.leading * 0.3

        def draw(c: Canvas, x: float, y: float) -> None:
            c.setFillColor(SHADE)
            c.rect(x, y - height, self.width, height, stroke=0, fill=1)
            c.setFillColor(colors.black)
            c.setFont(BOLD, s.font_size)
            for i, line in enumerate(lines):
                c.drawString(x + 2, y - s.leading * (i + 1), line)

        return Placed(height + s.leading * 0.2, draw)

    def row(self, block: Row) -> Placed:
        s = self.style
        indent = block.indent * s.font_size
        value_font = BOLD if block.strong else REGULAR
        label_font = BOLD if block.strong else REGULAR
        gap = s.font_size
        value_width = stringWidth(block.value, value_font, s.font_size)
        label_width = stringWidth(block.label, label_font, s.font_size)
        if indent + label_width + gap + value_width <= self.width:
            labels, values = [block.label], [block.value]
        else:
            labels = self._lines(block.label, label_font, s.font_size, self.width - indent)
            values = self._lines(block.value, value_font, s.font_size, self.width)
            if block.value and len(values) == 1:
                last = stringWidth(labels[-1], label_font, s.font_size)
                if indent + last + gap + value_width <= self.width:
                    # the value fits beside the label's last line
                    values = [""] * (len(labels) - 1) + values
                else:
                    values = [""] * len(labels) + values
            elif block.value:
                values = [""] * len(labels) + values
        height = s.leading * max(len(labels), len(values) if block.value else 0)

        def draw(c: Canvas, x: float, y: float) -> None:
            c.setFont(label_font, s.font_size)
            for i, line in enumerate(labels):
                c.drawString(x + indent, y - s.leading * (i + 1) + 2, line)
            c.setFont(value_font, s.font_size)
            for i, line in enumerate(values if block.value else []):
                c.drawRightString(x + self.width, y - s.leading * (i + 1) + 2, line)

        return Placed(height, draw)

    def text(self, block: Text) -> Placed:
        s = self.style
        lines = self._lines(block.text, BOLD, s.font_size, self.width)

        def draw(c: Canvas, x: float, y: float) -> None:
            c.setFont(BOLD, s.font_size)
            for i, line in enumerate(lines):
                c.drawString(x, y - s.leading * (i + 1) + 2, line)

        return Placed(s.leading * len(lines), draw)

    def rule(self, block: Rule) -> Placed:
        s = self.style
        height = s.leading * 0.8

        def draw(c: Canvas, x: float, y: float) -> None:
            c.setLineWidth(1.2 if block.heavy else 0.4)
            c.setStrokeColor(colors.black)
            c.line(x, y - height / 2, x + self.width, y - height / 2)

        return Placed(height, draw)

    def qr(self, block: Qr) -> Placed:
        s = self.style
        caption = f"{block.caption} (scan to search in DIGIT)"
        captions = self._lines(caption, REGULAR, s.font_size, self.width)
        payload = self._lines(block.payload.replace(",", ", "), BOLD, s.font_size, self.width)
        widget = QrCodeWidget(block.payload, barLevel="M")
        left, bottom, right, top = widget.getBounds()
        scale = s.qr_size / max(right - left, top - bottom)
        drawing = Drawing(s.qr_size, s.qr_size, transform=[scale, 0, 0, scale, 0, 0])
        drawing.add(widget)
        text_height = s.leading * (len(captions) + len(payload))

        def draw(c: Canvas, x: float, y: float) -> None:
            renderPDF.draw(drawing, c, x + (self.width - s.qr_size) / 2, y - s.qr_size)
            c.setFont(REGULAR, s.font_size)
            for i, line in enumerate(captions):
                c.drawCentredString(x + self.width / 2, y - s.qr_size - s.leading * (i + 1), line)
            c.setFont(BOLD, s.font_size)
            top_of_payload = y - s.qr_size - s.leading * len(captions)
            for i, line in enumerate(payload):
                c.drawCentredString(x + self.width / 2, top_of_payload - s.leading * (i + 1), line)

        return Placed(s.qr_size + text_height + s.leading * 0.5, draw)

    def place(self, block: Block) -> Placed:
        match block:
            case Banner():
                return self.banner(block)
            case Title():
                return self.title(block)
            case Heading():
                return self.heading(block)
            case Row():
                return self.row(block)
            case Text():
                return self.text(block)
            case Rule():
                return self.rule(block)
            case Qr():
                return self.qr(block)
        raise AssertionError(f"unknown block {block!r}")  # pragma: no cover


def _paginate(sections: list[list[Placed]], room: float) -> list[list[Placed]]:
    """Fill pages top to bottom. A section that fits on a page is not split: it moves to the next
    page whole; a longer one is split between its pieces. A piece taller than a page gets one."""
    pages: list[list[Placed]] = [[]]
    used = 0.0
    for section in sections:
        height = sum(piece.height for piece in section)
        if pages[-1] and used + height > room and height <= room:
            pages.append([])
            used = 0.0
        for piece in section:
            if pages[-1] and used + piece.height > room:
                pages.append([])
                used = 0.0
            pages[-1].append(piece)
            used += piece.height
    return pages


def _watermark(c: Canvas, doc: ReceiptDocument, style: PageStyle) -> None:
    if doc.status is not ReceiptStatus.REGISTERED:
        word, color = doc.status.value, colors.Color(0.95, 0.75, 0.75)
    elif doc.duplicate:
        word, color = "DUPLICATE", colors.Color(0.85, 0.85, 0.85)
    else:
        return
    width, height = style.size
    c.saveState()
    c.setFillColor(color)
    c.translate(width / 2, height / 2)
    c.rotate(55)
    size = min(style.watermark_size, 1.2 * (height - 2 * style.margin) / len(word))
    c.setFont(BOLD, size)
    c.drawCentredString(0, -size / 3, word)
    c.restoreState()


def render_pdf(doc: ReceiptDocument, page: str = "A6") -> bytes:
    """The receipt as PDF bytes on A6 or A4 pages; the same document always gives the same bytes."""
    style = PAGES.get(page)
    if style is None:
        raise ValueError(f"page must be one of {sorted(PAGES)}, got {page!r}")
    measure = _Measure(style)
    sections = receipt_sections(doc, closing_banners=False)
    placed = [[measure.place(block) for block in section] for section in sections]
    footer = style.leading * 1.5
    pages = _paginate(placed, style.size[1] - 2 * style.margin - footer)

    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=style.size, invariant=True, pageCompression=1)
    c.setTitle(f"Receipt {', '.join(doc.receipt_numbers)}")
    c.setAuthor(doc.city_name)
    c.setSubject(f"Payment receipt, {doc.tenant_id}")
    c.setCreator("DIGIT bill-collection integrator")
    for number, pieces_on_page in enumerate(pages, start=1):
        _watermark(c, doc, style)
        y = style.size[1] - style.margin
        for piece in pieces_on_page:
            piece.draw(c, style.margin, y)
            y -= piece.height
        if len(pages) > 1:
            c.setFont(REGULAR, style.font_size * 0.9)
            c.drawCentredString(
                style.size[0] / 2,
                style.margin / 2,
                f"Receipt {doc.receipt_numbers[0]} - page {number} of {len(pages)}",
            )
        c.showPage()
    c.save()
    return buffer.getvalue()
