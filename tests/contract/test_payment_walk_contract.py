"""The walk of DIGIT's payments by date asks collection-services' search only with criteria it
reads (digest 5.5: `PaymentSearchCriteria`; the yml's pageSize/pageNumber are not read), with
`fromDate`/`toDate` as the yml's int64 epoch milliseconds, and pages of 100 (corrections 11)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import yaml

from integrator.digit.client import DigitClient
from tests.contract.test_digit_edge_contracts import BASE, _calls, _query
from tests.contract.test_digit_edge_contracts import digit as digit  # a fixture

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "digit-contracts"
#: PaymentSearchCriteria's query parameters, as the digest lists them (5.5).
CRITERIA = {
    "ids", "billIds", "tenantId", "tenantIds", "receiptNumbers", "status", "instrumentStatus",
    "paymentModes", "payerIds", "consumerCodes", "businessServices", "transactionNumber",
    "mobileNumber", "fromDate", "toDate", "offset", "limit", "isCountRequest",
}  # fmt: skip
KOLKATA = ZoneInfo("Asia/Kolkata")


def _yml_search_parameters() -> dict[str, dict[str, Any]]:
    candidates = [CONTRACTS, Path("/work/shared/digit-contracts")]
    spec_path = next(p for p in candidates if (p / "collection-services-V-2-0.yml").exists())
    spec = yaml.safe_load((spec_path / "collection-services-V-2-0.yml").read_text())
    search = spec["paths"]["/_search"]  # the yml's paths are relative to /payments
    return {p["name"]: p for p in search["post"]["parameters"] if p.get("in") == "query"}


def test_the_date_walk_sends_only_criteria_collection_reads_with_int64_dates(
    digit: tuple[DigitClient, Any],
) -> None:
    client, mock = digit
    mock.add(
        "POST",
        f"{BASE}/collection-services/payments/WS/_search",
        json={"ResponseInfo": None, "Payments": []},
    )
    start = datetime(2026, 11, 29, tzinfo=KOLKATA)

    client.payments_between(
        tenant_id="pb.amritsar", module="WS", start=start, end=start + timedelta(days=1)
    )

    [call] = _calls(mock, "/collection-services/payments/WS/_search")
    query = _query(call)
    assert set(parse_qs(urlsplit(call.request.url).query)) <= CRITERIA
    yml = _yml_search_parameters()
    for name in ("fromDate", "toDate"):
        assert yml[name]["type"] == "integer" and yml[name]["format"] == "int64"
        assert int(query[name]) > 0 and query[name].isdigit()
    assert int(query["toDate"]) - int(query["fromDate"]) == 86_400_000
    assert (query["limit"], query["offset"]) == ("100", "0")
