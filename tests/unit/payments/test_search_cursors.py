"""A cursor of the ops list that is not one of ours is a refusal, never a crash (no I/O)."""

from __future__ import annotations

import pytest

from integrator.payments.operations import OperationRefused
from integrator.payments.search import _offset, _store_cursor


@pytest.mark.parametrize("cursor", ["o:²", "o:" + "9" * 40, "o:-1", "x:1"])
def test_an_offset_cursor_that_is_not_ours_is_refused(cursor: str) -> None:
    with pytest.raises(OperationRefused):
        _offset(cursor)


@pytest.mark.parametrize("cursor", ["k:²:pay-1", "k:" + "9" * 40 + ":pay-1", "k:12:"])
def test_a_store_cursor_that_is_not_ours_is_refused(cursor: str) -> None:
    with pytest.raises(OperationRefused):
        _store_cursor(cursor)


def test_our_own_cursors_are_read() -> None:
    assert _offset("o:40") == 40
    assert _store_cursor("k:1700000000000:pay-1") == "1700000000000:pay-1"
