"""The error catalogue is complete and reachable: every code the edge or the domain it maps can
raise is catalogued (found by reading the construction sites in the source), every catalogued
code is raised somewhere, and each has its anchor on /docs and its entry in /openapi.json."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import integrator
from integrator.api.problems import CATALOGUE, Kind, type_url
from integrator.api.schemas.fields import marshmallow_codes
from integrator.payments.offline import QUARANTINE_CODES
from tests.unit.api.conftest import Edge

ROOT = Path(integrator.__file__).parent
#: The code the HTTP edge maps: itself, and the domain whose errors it turns into problems.
#: (digit/ raises DIGIT's own codes, passed through under DIGIT_REJECTED; ops/ is the console.)
SCANNED = ("api", "payments")

#: Calls of these classes carry their code as the positional argument at this index. A function
#: does when it has a parameter named `code` (found in the scanned source: `problem`, `coded`,
#: the batch's `_refusal` and `_refused`...), and any call's keyword `code=` is a site.
CODE_ARGUMENT = {"CodedMessage": 0, "FieldError": 1}
#: Calls whose `code=` is not a code answered: the catalogue's own rows.
NOT_SITES = {"Problem"}

#: Construction sites whose code is not a literal, and where it comes from. A new one fails the
#: test until its origin is named here (and is itself a catalogued literal somewhere).
DYNAMIC_SITES = {
    "error.code": "ApiError subclasses' and NotFound subclasses' class attribute `code`",
    "e.code": "FieldError of DigitRejected: DIGIT's own codes (DIGIT_REJECTED's errors[])",
    "v.code": "a domain Violation's code",
    "errors[0].code": "the first field error's code",
    '_HTTP_CODES.get(status, "HTTP_ERROR")': "the _HTTP_CODES table",
    "refused[0].code": "the domain's check_amount_shape Violation",
    "self.code": "the class attribute `code`",
    "code": "a helper's parameter (pattern_rule, problem's callers, the batch's _refusal...)",
    "code_of(messages)": "a schema message's registered code (coded, CodedMessage)",
    'str(v["code"])': "a stored refusal's violation, replayed as it was first answered",
    "first.code": "a batch item's first field error (api/offline) or Violation (payments/offline)",
    'str(detail.get("code") or OFFLINE_CONFLICT)': "a stored quarantine's code, replayed",
}
_CODE_LITERAL = re.compile(r"[A-Z][A-Z_]+[A-Z]")


class Site(NamedTuple):
    where: str
    code: str | None  # the literal, or None when the code is an expression (`text`)
    text: str
    call: str | None = None  # the function or class called, when the site is a call


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def scanned_sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT.parent)): path.read_text("utf-8")
        for directory in SCANNED
        for path in sorted((ROOT / directory).rglob("*.py"))
    }


def code_positions(trees: Mapping[str, ast.AST]) -> dict[str, dict[str, set[int]]]:
    """Per file, the position of the code argument of each function a call there may name: the
    file's own functions (which hide any other of the same name: `_refused` is a different
    function in the batch and in registration), else the function of that name with a parameter
    `code` elsewhere (`problem`, `coded`...), else CODE_ARGUMENT's classes."""
    own: dict[str, dict[str, set[int]]] = {}
    for where, tree in trees.items():
        defined = own.setdefault(where, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defined.setdefault(node.name, set()).update(_code_parameter(node))
    shared = {name: {index} for name, index in CODE_ARGUMENT.items()}
    for defined in own.values():
        for name, positions in defined.items():
            shared.setdefault(name, set()).update(positions)
    return {where: {**shared, **defined} for where, defined in own.items()}


def _code_parameter(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    if names[:1] in (["self"], ["cls"]):
        names = names[1:]
    if "code" not in names or node.name.startswith("__"):  # a class is called by its name
        return set()
    return {names.index("code")}


def construction_sites(sources: Mapping[str, str] | None = None) -> Iterator[Site]:
    """Every site of the scanned source (or of `sources`: path -> text)."""
    sources = scanned_sources() if sources is None else sources
    trees = {where: ast.parse(source) for where, source in sources.items()}
    positions = code_positions(trees)
    for where, tree in trees.items():
        for node in ast.walk(tree):
            yield from _sites_of(node, sources[where], where, positions[where])


def _sites_of(
    node: ast.AST, source: str, where: str, positions: Mapping[str, set[int]]
) -> Iterator[Site]:
    if isinstance(node, ast.Call) and _name(node.func) not in NOT_SITES:
        call = _name(node.func)
        expressions = [k.value for k in node.keywords if k.arg == "code"]
        expressions += [node.args[i] for i in positions.get(call or "", ()) if i < len(node.args)]
        for expression in expressions:
            text = ast.get_source_segment(source, expression) or ""
            yield Site(f"{where}:{node.lineno}", _literal(expression), text, call)
            if _literal(expression) is None:  # a default inside, e.g. .get(status, "HTTP_ERROR")
                yield from _literals_in(expression, f"{where}:{node.lineno}", call)
    if isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["code"]:
        # `code = "X"` in a class, or `code = ... if ... else "X"` in a function
        yield from _literals_in(node.value, f"{where}:{node.lineno}")
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
        names = [_name(t) for t in node.targets]
        if any(n and n.endswith("_CODES") for n in names):
            for value in node.value.values:
                if _literal(value) is not None:
                    yield Site(f"{where}:{node.lineno}", _literal(value), "table")


def _literals_in(node: ast.expr, where: str, call: str | None = None) -> Iterator[Site]:
    for inner in ast.walk(node):
        literal = _literal(inner) if isinstance(inner, ast.expr) else None
        if literal is not None and _CODE_LITERAL.fullmatch(literal):
            yield Site(where, literal, "literal", call)


def raised_codes(sources: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for site in construction_sites(sources):
        if site.code is not None:
            found.setdefault(site.code, []).append(site.where)
    return found


def test_the_scan_finds_the_codes_of_every_kind_of_site() -> None:
    found = raised_codes()

    # a Violation keyword, a coded() message, an ApiError keyword, a class attribute, a table
    assert {"AMOUNT_BELOW_MINIMUM", "ONE_FORM", "IDEMPOTENCY_KEY_MISSING"} <= set(found)
    assert {"PAYMENT_NOT_FOUND", "TENANT_FORBIDDEN", "PAYLOAD_TOO_LARGE", "REQUIRED"} <= set(found)
    assert marshmallow_codes() <= set(found)
    # a batch item: refused (`_refused`, `_refusal`) or quarantined (`_quarantine(code=...)`)
    assert {"LEDGER_UNAVAILABLE", "COLLECTED_TOO_LONG_AGO", "OFFLINE_CASH_LIMIT_EXCEEDED"} <= set(
        found
    )


def test_a_new_code_answered_in_a_batch_is_found_wherever_it_is_passed() -> None:
    source = textwrap.dedent(
        """
        def _refused(item, code, field, message): ...
        def _refusal(index, key, code, field, message): ...
        def _not_a_batch(code): ...
        _refused(item, "NEW_REFUSAL", None, "m")
        _refusal(0, None, "NEW_ITEM_REFUSAL", "", "m")
        _not_a_batch("NEW_BATCH_REFUSAL")
        self._quarantine(device, item, fingerprint, code="NEW_QUARANTINE", message="m")
        ItemResult(idempotency_key="k", outcome=Outcome.REFUSED, code="NEW_RESULT")
        """
    )

    found = raised_codes({"integrator/payments/new.py": source})

    assert set(found) == {
        "NEW_REFUSAL",
        "NEW_ITEM_REFUSAL",
        "NEW_BATCH_REFUSAL",
        "NEW_QUARANTINE",
        "NEW_RESULT",
    }


def test_every_code_a_batch_item_is_quarantined_with_is_published_and_catalogued() -> None:
    quarantined = {
        site.code for site in construction_sites() if site.call == "_quarantine" and site.code
    }

    assert {"COLLECTED_TOO_LONG_AGO", "OFFLINE_CASH_LIMIT_EXCEEDED"} <= quarantined
    assert quarantined <= QUARANTINE_CODES  # the codes the batch's answer schema lists
    assert not QUARANTINE_CODES - set(CATALOGUE)


def test_every_code_the_edge_can_raise_is_in_the_catalogue() -> None:
    missing = {code: sites for code, sites in raised_codes().items() if code not in CATALOGUE}

    assert not missing, f"add these to integrator/api/problems.py: {missing}"


def test_every_catalogued_code_is_raised_somewhere() -> None:
    dead = set(CATALOGUE) - set(raised_codes())

    assert not dead, f"catalogued but never raised: {sorted(dead)}"


def test_codes_that_are_not_literals_come_from_known_places() -> None:
    unknown = {
        (site.where, site.text)
        for site in construction_sites()
        if site.code is None and site.text not in DYNAMIC_SITES
    }

    assert not unknown, f"name where these codes come from in DYNAMIC_SITES: {unknown}"


def test_codes_are_stable_identifiers() -> None:
    for problem in CATALOGUE.values():
        assert re.fullmatch(r"[A-Z][A-Z_]+[A-Z]", problem.code)
        assert all(400 <= s < 600 for s in problem.statuses)
        # a code no response carries at its top says where it is answered
        assert problem.statuses or problem.meaning.startswith("Only in POST /v1/payments/batch")
        assert problem.meaning.endswith(".") and problem.action.endswith(".")


# --- /docs and /openapi.json -----------------------------------------------------------------


class Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(value for name, value in attrs if name == "id" and value)


@pytest.fixture
def docs_ids(edge: Edge) -> set[str]:
    parser = Ids()
    parser.feed(edge.client.get("/docs").get_data(as_text=True))
    return parser.ids


@pytest.mark.parametrize("code", list(CATALOGUE))
def test_each_code_has_its_anchor_on_the_docs_page(docs_ids: set[str], code: str) -> None:
    anchor = type_url(code).removeprefix("/docs#")

    assert anchor in docs_ids


def test_the_docs_page_shows_meaning_and_action_of_each_code(edge: Edge) -> None:
    html = edge.client.get("/docs").get_data(as_text=True)

    for problem in CATALOGUE.values():
        row = html[html.index(f'id="{problem.anchor}"') :].split("</tr>")[0]
        assert problem.kind.value in row
        assert problem.status_text in row
        assert problem.meaning.replace("'", "&#39;") in row


def test_the_document_carries_the_catalogue(edge: Edge) -> None:
    document: dict[str, Any] = json.loads(edge.client.get("/openapi.json").data)

    listed = {entry["code"]: entry for entry in document["x-problem-codes"]}
    assert set(listed) == set(CATALOGUE)
    assert listed["BILL_NOT_FOUND"]["type"] == "/docs#problem-BILL_NOT_FOUND"
    assert document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] == list(
        CATALOGUE
    )
    unprocessable = document["components"]["responses"]["Unprocessable"]["description"]
    assert "AMOUNT_BELOW_MINIMUM" in unprocessable and "FRACTIONAL_AMOUNT" in unprocessable


def test_a_live_problem_links_to_its_anchor(edge: Edge, docs_ids: set[str]) -> None:
    body = edge.client.get("/v1/bills?tenantId=pb", headers=edge.headers()).get_json()

    assert body["type"] == "/docs#problem-ONE_FORM"
    assert "problem-ONE_FORM" in docs_ids


def test_shape_codes_are_the_request_form_only() -> None:
    shape = {p.code for p in CATALOGUE.values() if p.kind == Kind.SHAPE}

    assert {"FRACTIONAL_AMOUNT", "INSTRUMENT_NUMBER_REQUIRED", "ONE_FORM"} <= shape
    assert not {"AMOUNT_BELOW_MINIMUM", "BILL_NOT_FOUND", "COLLECTED_AT_IN_FUTURE"} & shape


def test_the_markdown_catalogue_is_current() -> None:
    from integrator.api.problems import catalogue_markdown

    written = (ROOT.parent / "docs" / "api-errors.md").read_text("utf-8")

    assert written == catalogue_markdown(), (
        "regenerate: python -m integrator.api.problems > docs/api-errors.md"
    )
