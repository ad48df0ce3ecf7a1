"""`mask_mobile`: how a payer's mobile number is shown wherever it leaves the ledger (logs, API
answers, CLI output): only its last four digits."""

from __future__ import annotations


def mask_mobile(number: str | None) -> str | None:
    """All but the last 4 characters hidden: 9876543210 -> ******3210; no number -> None."""
    if not number:
        return None
    return "*" * max(0, len(number) - 4) + number[-4:]
