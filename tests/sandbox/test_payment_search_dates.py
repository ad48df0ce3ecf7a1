"""Payment search by `fromDate`/`toDate` (digest 5.5): on transactionDate, in epoch ms, with
`toDate` widened by one day as collection-services' query builder does."""

from __future__ import annotations

from tests.sandbox.conftest import Digit
from tests.sandbox.test_payment_search import counter_payments, found

DAY_MS = 86_400_000


def test_from_and_to_date_select_on_transaction_date_and_to_date_gets_a_day_more(
    digit: Digit,
) -> None:
    counter_payments(digit, 1)
    [first] = found(digit)
    digit.admin("clock", {"advance_seconds": 2 * 86400})  # two of DIGIT's days later
    assert digit.login().status_code == 200  # the token expired meanwhile
    counter_payments(digit, 1)
    both = found(digit)
    assert len(both) == 2
    at = first["transactionDate"]
    later = max(p["transactionDate"] for p in both)

    assert [p["id"] for p in found(digit, fromDate=at, toDate=at)] == [first["id"]]
    assert [p["id"] for p in found(digit, fromDate=at + 1)] == [
        p["id"] for p in both if p["id"] != first["id"]
    ]
    # toDate one day before the later payment still reaches it (the widened day)...
    assert len(found(digit, fromDate=at, toDate=later - DAY_MS)) == 2
    # ...one day and a millisecond before does not
    assert len(found(digit, fromDate=at, toDate=later - DAY_MS - 1)) == 1
    assert found(digit, fromDate=later + 1) == []
