"""DIGIT's Swagger 2.0 definitions as JSON Schemas, corrected by the digest's §9.

The ymls in ../shared/digit-contracts `$ref` the common contract by its raw.githubusercontent URL;
that URL is mapped to the local `common-contracts-v1-0-0.yml` (the digest's §1 says it is the
actual target). Where a yml and DIGIT's Java disagree, the digest wins: every correction is an
explicit, commented patch below (`_patch_*`), applied to the loaded schema. Nothing is skipped.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "digit-contracts"
COMMON_URL = (
    "https://raw.githubusercontent.com/egovernments/egov-services/master/docs/common/"
    "contracts/v1-0-0.yml"
)
BILLING_URI = "urn:digit:billingservice-V-2.0.yml"
COLLECTION_URI = "urn:digit:collection-services-V-2-0.yml"


def _contracts_dir() -> Path:
    # tests/contract -> repo root -> /work ; the shared folder sits beside the repo checkout
    for candidate in (CONTRACTS, Path("/work/shared/digit-contracts")):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("../shared/digit-contracts is not available")


def _load_yaml(name: str) -> dict[str, Any]:
    text = (_contracts_dir() / name).read_text(encoding="utf-8")
    if name == "billingservice-V-2.0.yml":
        # Text patch: the file is not valid YAML as published - the `/bill/_search` and
        # `/bill/_generate` path keys start at column 0 instead of under `paths:`. Indent them.
        text = re.sub(r"^(/bill/)", r"  \1", text, flags=re.MULTILINE)
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _allow_null_optionals(definitions: dict[str, Any]) -> None:
    """Patch (all files): DIGIT's Java (Jackson, no NON_NULL inclusion) writes absent optional
    fields as JSON `null` (e.g. `payerAddress: null`, `ResposneInfo: null` on a fresh _fetchbill,
    digest 4.1; `description/params: null` in Errors, digest 3). Swagger 2.0 cannot say
    "nullable", so every property not listed as `required` also accepts null."""
    for definition in definitions.values():
        required = set(definition.get("required", ()))
        props = definition.get("properties", {})
        for name, prop in list(props.items()):
            if name not in required:
                props[name] = _nullable(prop)


def _patch_common(common: dict[str, Any]) -> None:
    d = common["definitions"]
    # Digest 3: billing's ResponseInfo has no resMsgId and `status` like "201 CREATED"; the
    # common contract's `required` list ([apiId, ver, ts, status] ...) is not enforced by Java.
    d["ResponseInfo"].pop("required", None)
    # Digest 3: ResponseInfo.status is Spring's `HttpStatus.toString()` ("200 OK",
    # "201 CREATED"), not the yml's SUCCESSFUL/FAILED enum. It stays a string.
    d["ResponseInfo"]["properties"]["status"].pop("enum")
    # Digest 3: the tracer's ErrorRes has `ResponseInfo: null` (the yml makes it required).
    d["ErrorRes"].pop("required", None)
    # Digest 3: RequestInfo's required list is not enforced by the Java either; it is kept for
    # the requests *we* build (see `request_info_schema`), dropped for the rest.


def _patch_billing(billing: dict[str, Any]) -> None:
    d = billing["definitions"]
    # Digest 9.2: the response key is really `ResposneInfo` (sic), not `ResponseInfo`.
    d["BillResponse"]["properties"]["ResposneInfo"] = d["BillResponse"]["properties"].pop(
        "ResponseInfo"
    )
    # Digest 9.3 / 4.3: Bill.status also takes PARTIALLY_PAID and PAYMENT_CANCELLED.
    d["Bill"]["properties"]["status"]["enum"] += ["PARTIALLY_PAID", "PAYMENT_CANCELLED"]
    # Digest 4.3: numbers DIGIT writes for these are JSON numbers (BigDecimal) - already so.


PAYMENT_MODES_ADDED = ["OFFLINE_NEFT", "OFFLINE_RTGS", "ONLINE_NEFT", "ONLINE_RTGS", "POSTAL_ORDER"]


def _patch_collection(collection: dict[str, Any]) -> None:
    d = collection["definitions"]
    # Digest 9.5: the request body key is `RequestInfo` (Java; JSON is case-insensitive there),
    # not `requestInfo`. Both Payment and RequestInfo are @NotNull (digest 5.1).
    request = d["PaymentRequest"]["properties"]
    request["RequestInfo"] = request.pop("requestInfo")
    d["PaymentRequest"]["required"] = ["RequestInfo", "Payment"]
    # Digest 9.5: the response has `ResponseInfo` and `Payments` (an array), not `Payment`.
    response = d["PaymentResponse"]["properties"]
    response.pop("responseInfo")
    response["ResponseInfo"] = {"$ref": f"{COMMON_URL}#/definitions/ResponseInfo"}
    response["Payments"] = {"type": "array", "items": response.pop("Payment")}
    d["PaymentResponse"]["required"] = ["Payments"]
    payment = d["Payment"]["properties"]
    # Digest 9.7: Java's PaymentModeEnum has five more modes.
    payment["paymentMode"]["enum"] += PAYMENT_MODES_ADDED
    # Digest 9.7: instrumentStatus is APPROVAL_PENDING / TO_BE_SUBMITTED (with underscores).
    payment["instrumentStatus"]["enum"] = [
        "APPROVED",
        "APPROVAL_PENDING",
        "TO_BE_SUBMITTED",
        "REMITTED",
        "REJECTED",
        "CANCELLED",
        "DISHONOURED",
    ]
    # Digest 5.1: additionalDetails is free JSON (the yml types PaymentDetail's as integer).
    d["PaymentDetail"]["properties"]["additionalDetails"] = {"type": "object"}
    # Digest 5.3: collection's Bill status enum is ACTIVE CANCELLED PAID EXPIRED - as in the yml.
    # Digest 13 / 9.6: `/{moduleName}/_workflow` takes `RequestInfo` and `PaymentWorkflows`, an
    # array of at least one PaymentWorkflow (the yml's single `Payment` is wrong), each with free
    # JSON additionalDetails (the yml says integer).
    d["PaymentWorkflowRequest"] = {
        "type": "object",
        "properties": {
            "RequestInfo": {"$ref": f"{COMMON_URL}#/definitions/RequestInfo"},
            "PaymentWorkflows": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/definitions/PaymentWorkflow"},
            },
        },
        "required": ["RequestInfo", "PaymentWorkflows"],
    }
    d["PaymentWorkflow"]["properties"]["additionalDetails"] = {"type": "object"}


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    common = _load_yaml("common-contracts-v1-0-0.yml")
    billing = _load_yaml("billingservice-V-2.0.yml")
    collection = _load_yaml("collection-services-V-2-0.yml")
    _patch_common(common)
    _patch_billing(billing)
    _patch_collection(collection)
    for doc in (common, billing, collection):
        _allow_null_optionals(doc["definitions"])
    return {COMMON_URL: common, BILLING_URI: billing, COLLECTION_URI: collection}


@functools.cache
def _registry() -> Registry:
    resources = [
        (uri, Resource.from_contents(doc, default_specification=DRAFT4))
        for uri, doc in _documents().items()
    ]
    return Registry().with_resources(resources)


def validator(document_uri: str, definition: str) -> jsonschema.Draft4Validator:
    """A validator for `#/definitions/<definition>` of one of the loaded documents."""
    schema = {"$ref": f"{document_uri}#/definitions/{definition}"}
    return jsonschema.Draft4Validator(schema, registry=_registry())


def request_info_validator() -> jsonschema.Draft4Validator:
    """RequestInfo as the yml defines it, *with* its required list: what we send must satisfy
    even the stricter contract (apiId, ver, ts, action, msgId)."""
    schema = copy.deepcopy(_load_yaml("common-contracts-v1-0-0.yml")["definitions"]["RequestInfo"])
    return jsonschema.Draft4Validator(schema)


def errors(validator_: jsonschema.Draft4Validator, instance: Any) -> list[str]:
    """Every violation as `path: message`, with the reasons behind an anyOf failure."""
    found = []
    for error in validator_.iter_errors(instance):
        leaves = [c for c in error.context if c.validator != "type" or c.validator_value != "null"]
        for e in leaves or [error]:
            found.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    return found
