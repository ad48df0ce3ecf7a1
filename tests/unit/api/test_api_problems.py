"""The error catalogue is complete and reachable: every code the edge or the domain it maps can
raise is catalogued (found by reading the construction sites in the source), every catalogued
code is raised somewhere, and each has its anchor on /docs and its entry in /openapi.json."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import integrator
from integrator.api.problems import CATALOGUE, Kind, type_url
from integrator.api.schemas.fields import marshmallow_codes
from tests.unit.api.conftest import Edge

ROOT = Path(integrator.__file__).parent
#: The code the HTTP edge maps: itself, and the domain whose errors it turns into problems.
#: (digit/ raises DIGIT's own codes, passed through under DIGIT_REJECTED; ops/ is the console.)
SCANNED = ("api", "payments")

#: Calls whose code is a keyword `code=` or the positional argument at this index.
CODE_ARGUMENT = {"coded": 0, "CodedMessage": 0, "problem": 1, "FieldError": 1, "ApiError": None}
CODE_ARGUMENT |= {"Violation": None, "pattern_rule": 1}

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
    "code": "a helper's parameter (pattern_rule, problem's callers)",
    "code_of(messages)": "a schema message's registered code (coded, CodedMessage)",
    'str(v["code"])': "a stored refusal's violation, replayed as it was first answered",
}
_CODE_LITERAL = re.compile(r"[A-Z][A-Z_]+[A-Z]")


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


def construction_sites() -> Iterator[tuple[str, str | None, str]]:
    """(where, code literal or None, source of the code expression) for every site."""
    for directory in SCANNED:
        for path in sorted((ROOT / directory).rglob("*.py")):
            source = path.read_text("utf-8")
            tree = ast.parse(source)
            where = str(path.relative_to(ROOT.parent))
            for node in ast.walk(tree):
                yield from _sites_of(node, source, where)


def _sites_of(node: ast.AST, source: str, where: str) -> Iterator[tuple[str, str | None, str]]:
    if isinstance(node, ast.Call) and _name(node.func) in CODE_ARGUMENT:
        position = CODE_ARGUMENT[str(_name(node.func))]
        expressions = [k.value for k in node.keywords if k.arg == "code"]
        if position is not None and len(node.args) > position:
            expressions.append(node.args[position])
        for expression in expressions:
            text = ast.get_source_segment(source, expression) or ""
            yield f"{where}:{node.lineno}", _literal(expression), text
            if _literal(expression) is None:  # a default inside, e.g. .get(status, "HTTP_ERROR")
                yield from _literals_in(expression, where)
    if isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["code"]:
        # `code = "X"` in a class, or `code = ... if ... else "X"` in a function
        yield from _literals_in(node.value, f"{where}:{node.lineno}")
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
        names = [_name(t) for t in node.targets]
        if any(n and n.endswith("_CODES") for n in names):
            for value in node.value.values:
                if _literal(value) is not None:
                    yield f"{where}:{node.lineno}", _literal(value), "table"


def _literals_in(node: ast.expr, where: str) -> Iterator[tuple[str, str | None, str]]:
    for inner in ast.walk(node):
        literal = _literal(inner) if isinstance(inner, ast.expr) else None
        if literal is not None and _CODE_LITERAL.fullmatch(literal):
            yield where, literal, "literal"


def raised_codes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for where, code, _text in construction_sites():
        if code is not None:
            found.setdefault(code, []).append(where)
    return found


def test_the_scan_finds_the_codes_of_every_kind_of_site() -> None:
    found = raised_codes()

    # a Violation keyword, a coded() message, an ApiError keyword, a class attribute, a table
    assert {"AMOUNT_BELOW_MINIMUM", "ONE_FORM", "IDEMPOTENCY_KEY_MISSING"} <= set(found)
    assert {"PAYMENT_NOT_FOUND", "TENANT_FORBIDDEN", "PAYLOAD_TOO_LARGE", "REQUIRED"} <= set(found)
    assert marshmallow_codes() <= set(found)


def test_every_code_the_edge_can_raise_is_in_the_catalogue() -> None:
    missing = {code: sites for code, sites in raised_codes().items() if code not in CATALOGUE}

    assert not missing, f"add these to integrator/api/problems.py: {missing}"


def test_every_catalogued_code_is_raised_somewhere() -> None:
    dead = set(CATALOGUE) - set(raised_codes())

    assert not dead, f"catalogued but never raised: {sorted(dead)}"


def test_codes_that_are_not_literals_come_from_known_places() -> None:
    unknown = {
        (where, text)
        for where, code, text in construction_sites()
        if code is None and text not in DYNAMIC_SITES
    }

    assert not unknown, f"name where these codes come from in DYNAMIC_SITES: {unknown}"


def test_codes_are_stable_identifiers() -> None:
    for problem in CATALOGUE.values():
        assert re.fullmatch(r"[A-Z][A-Z_]+[A-Z]", problem.code)
        assert problem.statuses and all(400 <= s < 600 for s in problem.statuses)
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
        assert str(problem.statuses[0]) in row
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
