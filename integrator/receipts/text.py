"""The receipt as a thermal PoS printer prints it: plain text in a fixed number of columns.

    render_text(doc, width=32)   58 mm paper (32 columns) or 80 mm paper (48 columns)

Every line is at most `width` characters and printable ASCII (see layout.printable). Labels sit on
the left and amounts on the right; a label or value too long for its line wraps, the value staying
right-aligned. Banners (CANCELLED, DISHONOURED, DUPLICATE) are boxed in asterisks at the top and
the bottom, and each bill's heading says DUPLICATE too.

The QR code is printed as its payload text only: drawing it needs the printer's own command set
(ESC/POS `GS ( k` and its dialects), which is the device's business, not this module's.
"""

from __future__ import annotations

import textwrap

from integrator.receipts.document import ReceiptDocument
from integrator.receipts.layout import (
    Banner,
    Block,
    Heading,
    Qr,
    Row,
    Rule,
    Text,
    Title,
    receipt_blocks,
)

__all__ = ["WIDTHS", "render_text"]

WIDTHS = (32, 48)  # columns of 58 mm and 80 mm thermal paper in the printer's standard font
_INDENT = "  "


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    ) or [indent.rstrip()]


def _row(row: Row, width: int) -> list[str]:
    indent = _INDENT * row.indent
    label = indent + row.label
    if len(label) + 1 + len(row.value) <= width:
        return [label.ljust(width - len(row.value)) + row.value if row.value else label]
    lines = _wrap(row.label, width, indent)
    if not row.value:
        return lines
    if len(lines[-1]) + 1 + len(row.value) <= width:
        lines[-1] = lines[-1].ljust(width - len(row.value)) + row.value
        return lines
    return lines + [line.rjust(width) for line in _wrap(row.value, width)]


def _block(block: Block, width: int) -> list[str]:
    match block:
        case Banner(lines=lines):
            box = "*" * width
            return [box, *(line.center(width).rstrip() for line in lines), box]
        case Title(text=text):
            return [line.center(width).rstrip() for line in _wrap(text, width)]
        case Heading(text=text):
            return _wrap(text, width)
        case Row():
            return _row(block, width)
        case Text(text=text):
            return _wrap(text, width)
        case Rule(heavy=heavy):
            return [("=" if heavy else "-") * width]
        case Qr(payload=payload, caption=caption):
            # break_long_words keeps a long receipt number within the line
            return [*_wrap(f"{caption}:", width), *_wrap(payload.replace(",", ", "), width)]
    raise AssertionError(f"unknown block {block!r}")  # pragma: no cover


def render_text(doc: ReceiptDocument, width: int = 32) -> str:
    """The receipt as lines of at most `width` (32 or 48) characters, ending with a newline."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}, got {width}")
    lines = [line for block in receipt_blocks(doc) for line in _block(block, width)]
    return "\n".join(lines) + "\n"
