"""The readByQuery parser and the filter evaluation, with generated queries."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.objects import SCHEMAS, FieldType, Record, format_value
from ml_connector.sim.intacct.query import (
    And,
    Condition,
    Expr,
    Not,
    Op,
    Or,
    QueryError,
    compile_expr,
    order,
    parse_filter,
    parse_query,
    render_query,
    select,
)

FIELD_NAMES = st.sampled_from(["RECORDNO", "VENDORID", "NAME", "STATUS", "WHENMODIFIED", "ONHOLD"])
TEXT_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12
)  # quotes and backslashes included on purpose
SQL_OPS = [op for op in Op if op is not Op.BETWEEN]


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    op = draw(st.sampled_from(SQL_OPS))
    name = draw(FIELD_NAMES)
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return Condition(name, op)
    if op in (Op.IN, Op.NOT_IN):
        return Condition(name, op, tuple(draw(st.lists(TEXT_VALUES, min_size=1, max_size=4))))
    return Condition(name, op, (draw(TEXT_VALUES),))


expressions: st.SearchStrategy[Expr] = st.recursive(
    conditions(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    ),
    max_leaves=8,
)


@given(expressions)
def test_rendered_queries_parse_back_to_the_same_tree(expr: Expr) -> None:
    assert parse_query(render_query(expr)) == expr


@given(st.text(max_size=60))
def test_any_text_either_parses_or_raises_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        parse_query(text)


QUERY_ALPHABET = st.sampled_from(
    ["RECORDNO", "NAME", " = ", " != ", " < ", " >= ", " LIKE ", " NOT ", " IN ", " IS ",
     " NULL", " AND ", " OR ", "(", ")", ",", "'a'", "'it''s'", "'x\\'y'", "12", "-3.5", " "]
)  # fmt: skip


@given(st.lists(QUERY_ALPHABET, max_size=14).map("".join))
def test_token_soup_never_crashes(text: str) -> None:
    with contextlib.suppress(QueryError):
        parse_query(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("NAME = 'Jane\\'s Deli'", Condition("NAME", Op.EQ, ("Jane's Deli",))),
        ("NAME = 'Jane''s Deli'", Condition("NAME", Op.EQ, ("Jane's Deli",))),
        ("RECORDNO >= 10", Condition("RECORDNO", Op.GE, ("10",))),
        ("NAME not like 'A%'", Condition("NAME", Op.NOT_LIKE, ("A%",))),
        ("STATUS IN ('active', 'inactive')", Condition("STATUS", Op.IN, ("active", "inactive"))),
        ("PAYMETHODKEY is not null", Condition("PAYMETHODKEY", Op.IS_NOT_NULL)),
        (
            "A = '1' AND B = '2' OR C = '3'",
            Or(
                (
                    And((Condition("A", Op.EQ, ("1",)), Condition("B", Op.EQ, ("2",)))),
                    Condition("C", Op.EQ, ("3",)),
                )
            ),
        ),
        (
            "A = '1' AND (B = '2' OR C = '3')",
            And(
                (
                    Condition("A", Op.EQ, ("1",)),
                    Or((Condition("B", Op.EQ, ("2",)), Condition("C", Op.EQ, ("3",)))),
                )
            ),
        ),
        ("NOT A = '1'", Not(Condition("A", Op.EQ, ("1",)))),
    ],
)
def test_documented_forms_parse(text: str, expected: Expr | None) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    "text",
    ["A=1", "A = ", "A = 'open", "A LIKE 5 5", "(A = 1", "A = 1)", "A IN ()", "AND = 1", "A IS 1"],
)
def test_malformed_queries_are_refused(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query(text)


# --- evaluation against an independent reference ------------------------------------------

VENDOR = SCHEMAS["VENDOR"]
vendor_records = st.fixed_dictionaries(
    {
        "RECORDNO": st.integers(1, 50),
        "NAME": st.one_of(st.none(), st.sampled_from(["Acme", "acme", "Zed", "Ab's", "B_2"])),
        "STATUS": st.sampled_from(["active", "inactive"]),
        "ONHOLD": st.booleans(),
        "CREDITLIMIT": st.one_of(st.none(), st.sampled_from([Decimal(0), Decimal("2500.50")])),
        "WHENMODIFIED": st.one_of(
            st.none(), st.sampled_from([datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 5, 6)])
        ),
    }
)
LITERALS = {
    "RECORDNO": st.integers(0, 51).map(str),
    "NAME": st.sampled_from(["Acme", "acme", "Zed", "A%", "%e%", "B\\_2", "_b%", "Ab's"]),
    "STATUS": st.sampled_from(["active", "inactive"]),
    "ONHOLD": st.sampled_from(["true", "false"]),
    "CREDITLIMIT": st.sampled_from(["0", "2500.5", "100"]),
    "WHENMODIFIED": st.sampled_from(["01/02/2026 03:04:05", "05/06/2026", "12/31/2025"]),
}


@st.composite
def typed_conditions(draw: st.DrawFn) -> Condition:
    name = draw(st.sampled_from(sorted(LITERALS)))
    ops = [Op.EQ, Op.NE, Op.LT, Op.GE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.BETWEEN]
    if name == "NAME":
        ops += [Op.LIKE, Op.NOT_LIKE]
    op = draw(st.sampled_from(ops))
    if op is Op.IS_NULL:
        return Condition(name, op)
    count = 2 if op is Op.BETWEEN else (draw(st.integers(1, 3)) if op in (Op.IN, Op.NOT_IN) else 1)
    return Condition(name, op, tuple(draw(LITERALS[name]) for _ in range(count)))


typed_expressions: st.SearchStrategy[Expr] = st.recursive(
    typed_conditions(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    ),
    max_leaves=6,
)


def reference(expr: Expr, record: Record) -> bool | None:
    """SQL three-valued logic, written the slow and obvious way."""
    if isinstance(expr, And):
        values = [reference(item, record) for item in expr.items]
        return False if False in values else (None if None in values else True)
    if isinstance(expr, Or):
        values = [reference(item, record) for item in expr.items]
        return True if True in values else (None if None in values else False)
    if isinstance(expr, Not):
        inner = reference(expr.item, record)
        return None if inner is None else not inner
    value = record[expr.field]
    if expr.op is Op.IS_NULL:
        return value is None
    if value is None:
        return None
    ftype = VENDOR.fields[expr.field]

    def lit(text: str) -> object:
        if ftype is FieldType.INTEGER:
            return int(text)
        if ftype is FieldType.DECIMAL:
            return Decimal(text)
        if ftype is FieldType.BOOLEAN:
            return text == "true"
        if ftype is FieldType.TIMESTAMP:
            fmt = "%m/%d/%Y %H:%M:%S" if " " in text else "%m/%d/%Y"
            return datetime.strptime(text, fmt)
        return text

    if expr.op in (Op.LIKE, Op.NOT_LIKE):
        import re

        pattern = "".join(
            ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in expr.values[0]
        )
        hit = re.fullmatch(pattern, format_value(value), re.DOTALL) is not None
        return hit if expr.op is Op.LIKE else not hit
    values = [lit(v) for v in expr.values]
    checks = {
        Op.EQ: lambda: value == values[0],
        Op.NE: lambda: value != values[0],
        Op.LT: lambda: value < values[0],
        Op.GE: lambda: value >= values[0],
        Op.IN: lambda: value in values,
        Op.NOT_IN: lambda: value not in values,
        Op.BETWEEN: lambda: values[0] <= value <= values[1],
    }
    return checks[expr.op]()


@given(typed_expressions, st.lists(vendor_records, max_size=8))
def test_compiled_filters_agree_with_the_reference(expr: Expr, records: list[Record]) -> None:
    predicate = compile_expr(expr, VENDOR)
    for record in records:
        assert predicate(record) == reference(expr, record)
    assert select(records, predicate) == [r for r in records if reference(expr, r) is True]


def test_unknown_fields_and_bad_literals_fail_at_compile_time() -> None:
    with pytest.raises(QueryError, match="Invalid field"):
        compile_expr(Condition("NOPE", Op.EQ, ("1",)), VENDOR)
    with pytest.raises(QueryError, match="MM/DD/YYYY"):
        compile_expr(Condition("WHENMODIFIED", Op.GT, ("2026-01-01",)), VENDOR)
    with pytest.raises(QueryError, match="join field"):
        compile_expr(Condition("DISPLAYCONTACT.EMAIL1", Op.EQ, ("x",)), VENDOR, allow_related=False)


def test_order_puts_empty_values_last_ascending_and_first_descending() -> None:
    records: list[Record] = [
        {"RECORDNO": 1, "NAME": "b"},
        {"RECORDNO": 2, "NAME": None},
        {"RECORDNO": 3, "NAME": "a"},
    ]
    ascending = order(records, [("NAME", False)], VENDOR)
    assert [r["RECORDNO"] for r in ascending] == [3, 1, 2]
    descending = order(records, [("NAME", True)], VENDOR)
    assert [r["RECORDNO"] for r in descending] == [2, 1, 3]


def test_filter_tree_parses_nested_groups() -> None:
    element = etree.fromstring(
        "<filter><or><equalto><field>A</field><value>1</value></equalto>"
        "<and><isnull><field>B</field></isnull><in><field>C</field><value>x</value>"
        "<value>y</value></in></and></or></filter>"
    )
    assert parse_filter(element) == Or(
        (
            Condition("A", Op.EQ, ("1",)),
            And((Condition("B", Op.IS_NULL), Condition("C", Op.IN, ("x", "y")))),
        )
    )


# --- the gateway never breaks on a generated query -----------------------------------------


@pytest.fixture(scope="module")
def gateway_sim() -> IntacctSimulator:
    return IntacctSimulator(seed=9, gl_entries=40, vendors=20, payments=10, bills=5)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=50), expressions.map(render_query)))
def test_gateway_answers_any_query_with_a_function_result(
    gateway_sim: IntacctSimulator, text: str
) -> None:
    creds = gateway_sim.credentials
    cleaned = "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))
    cleaned = "".join(c for c in cleaned if not 0xD800 <= ord(c) <= 0xDFFF)
    body = (
        f"<request><control><senderid>{creds.sender_id}</senderid>"
        f"<password>{creds.sender_password}</password><controlid>c</controlid>"
        "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation>"
        f"<authentication><login><userid>{creds.user_id}</userid>"
        f"<companyid>{creds.company_id}</companyid><password>{creds.user_password}</password>"
        '</login></authentication><content><function controlid="f"><readByQuery>'
        f"<object>VENDOR</object><fields>*</fields><query>{_escape(cleaned)}</query>"
        "</readByQuery></function></content></operation></request>"
    ).encode()
    parsed = gateway_sim.gateway.parse(body)
    assert parsed.request is not None
    root = etree.fromstring(gateway_sim.gateway.execute(parsed.request))
    status = root.findtext("operation/result/status")
    assert status in ("success", "failure")
    if status == "failure":
        assert root.findtext("operation/result/errormessage/error/errorno") == "Query Failed"
    for result_id in gateway_sim.resultsets.ids():
        gateway_sim.resultsets.discard(result_id)


def test_literals_coerce_by_field_type() -> None:
    from ml_connector.sim.intacct.objects import parse_literal

    assert parse_literal(FieldType.DATE, "02/29/2028") == date(2028, 2, 29)
    assert parse_literal(FieldType.TIMESTAMP, "02/29/2028") == datetime(2028, 2, 29)
    assert parse_literal(FieldType.DECIMAL, "-1.50") == Decimal("-1.50")
    with pytest.raises(ValueError):
        parse_literal(FieldType.DATE, "02/30/2028")
    with pytest.raises(ValueError):
        parse_literal(FieldType.BOOLEAN, "yes")
