"""How POST /v1/payments/batch writes an item's answer: fields named as every answer names them."""

from __future__ import annotations

import pytest

from integrator.api.offline import _item_view
from integrator.payments.offline import ItemResult, Outcome
from tests.unit.api.conftest import Edge, make_payment


@pytest.mark.parametrize(
    ("domain", "answered"),
    [
        ("bills[0].amount", "bills/0/amount"),
        ("bills[12].billId", "bills/12/billId"),
        ("paymentMode", "paymentMode"),
        (None, None),
    ],
)
def test_a_refused_item_names_its_field_as_a_pointer(
    domain: str | None, answered: str | None
) -> None:
    result = ItemResult(
        idempotency_key="k-1",
        outcome=Outcome.REFUSED,
        code="AMOUNT_ABOVE_MAXIMUM",
        field=domain,
        message="too much",
    )

    assert _item_view(3, result)["problem"]["field"] == answered


def test_a_quarantined_item_names_the_fields_of_what_changed_as_pointers(edge: Edge) -> None:
    result = ItemResult(
        idempotency_key="k-1",
        outcome=Outcome.QUARANTINED,
        payment=make_payment(),
        code="AMOUNT_BELOW_MINIMUM",
        conflict={
            "code": "AMOUNT_BELOW_MINIMUM",
            "violations": [
                {"code": "AMOUNT_BELOW_MINIMUM", "field": "bills[1].amount", "message": "m"},
                {"code": "BILL_NOT_PAYABLE", "field": None, "message": "m"},
            ],
        },
    )

    with edge.app.app_context():
        answer = _item_view(0, result)

    assert [v["field"] for v in answer["conflict"]["violations"]] == ["bills/1/amount", None]
    assert answer["conflict"]["code"] == "AMOUNT_BELOW_MINIMUM"
