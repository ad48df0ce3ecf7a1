"""Receipts: one payment's receipt as a PoS printer and a PDF viewer print it. Pure: no I/O.

    document.py  ReceiptDocument, ReceiptBill, TaxLine, ReceiptStatus: the validated data
    money.py     amount_in_words, indian_grouping: rupees as a receipt writes them
    layout.py    receipt_blocks: what the receipt says, in order, shared by both renderers
    text.py      render_text(doc, width=32|48): the thermal slip (58 mm or 80 mm paper)
    pdf.py       render_pdf(doc, page="A6"|"A4"): the PDF, with a QR code of the receipt numbers

The caller builds a ReceiptDocument (from the ledger and DIGIT's payment) and asks for text or
bytes; serving them and counting prints (which makes `duplicate` true) are the caller's business.
"""

from integrator.receipts.document import ReceiptBill, ReceiptDocument, ReceiptStatus, TaxLine
from integrator.receipts.money import amount_in_words, indian_grouping
from integrator.receipts.pdf import render_pdf
from integrator.receipts.text import render_text

__all__ = [
    "ReceiptBill",
    "ReceiptDocument",
    "ReceiptStatus",
    "TaxLine",
    "amount_in_words",
    "indian_grouping",
    "render_pdf",
    "render_text",
]
