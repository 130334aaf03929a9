"""Route rules: how conditions compare, how rules combine, and which rules are refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ml_connector.config import RouteCondition, RouteRule
from ml_connector.sage100.collect.streams import AP_INVOICES, PURCHASE_ORDERS
from ml_connector.sage100.route.routing import matches, route, rule_problems


def cond(field: str, op: Any, value: Any) -> RouteCondition:
    return RouteCondition(field=field, op=op, value=value)


def rule(channel: str, *when: RouteCondition, also: bool = False) -> RouteRule:
    return RouteRule(when=list(when), channel=channel, also=also)


def test_numbers_compare_numerically_and_strings_as_text() -> None:
    record = {"InvoiceAmt": "10000.01", "WarehouseCode": "002", "InvoiceDate": "2026-11-25"}
    assert matches(cond("InvoiceAmt", "gt", 10000), record)
    assert not matches(cond("InvoiceAmt", "le", 9999.99), record)
    assert matches(cond("WarehouseCode", "eq", "002"), record)
    assert not matches(cond("WarehouseCode", "eq", "2"), record)  # codes are text
    assert matches(cond("WarehouseCode", "eq", 2), record)  # unless written as a number
    assert matches(cond("InvoiceDate", "ge", "2026-11-01"), record)


def test_flags_lists_and_contains() -> None:
    record = {"HoldPayment": "Y", "VendorName": "Acme Supply Co.", "WarehouseCode": "001"}
    assert matches(cond("HoldPayment", "eq", True), record)
    assert not matches(cond("HoldPayment", "eq", False), record)
    assert matches(cond("WarehouseCode", "in", ["000", "001"]), record)
    assert matches(cond("VendorName", "contains", "SUPPLY"), record)


def test_a_missing_or_blank_field_never_matches() -> None:
    for op in ("eq", "ne", "gt", "lt", "contains"):
        assert not matches(cond("WarehouseCode", op, "x"), {})
        assert not matches(cond("WarehouseCode", op, "x"), {"WarehouseCode": "  "})


def test_first_replacing_rule_wins_and_also_rules_add() -> None:
    rules = [
        rule("CAPPROVAL", cond("InvoiceAmt", "gt", 10000), also=True),
        rule("CWH002000", cond("WarehouseCode", "eq", "002")),
        rule("CSECOND00", cond("WarehouseCode", "eq", "002")),
        rule("CAPPROVAL", cond("InvoiceAmt", "gt", 5000), also=True),
    ]
    assert route("CDEFAULT0", rules, {"InvoiceAmt": "20000", "WarehouseCode": "002"}) == [
        "CWH002000",
        "CAPPROVAL",
    ]
    assert route("CDEFAULT0", rules, {"InvoiceAmt": "1", "WarehouseCode": "000"}) == ["CDEFAULT0"]


def test_all_conditions_of_a_rule_must_hold() -> None:
    rules = [rule("CBIGHOLD0", cond("InvoiceAmt", "gt", 100), cond("HoldPayment", "eq", True))]
    assert route("CDEFAULT0", rules, {"InvoiceAmt": "500", "HoldPayment": "N"}) == ["CDEFAULT0"]
    assert route("CDEFAULT0", rules, {"InvoiceAmt": "500", "HoldPayment": "Y"}) == ["CBIGHOLD0"]


def test_config_problems_name_the_key_and_the_fields() -> None:
    rules = [
        rule("CX0000000", cond("WarehouseCod", "eq", "002")),
        rule("CX0000000", cond("WarehouseCode", "in", "002")),
        rule("CX0000000", cond("WarehouseCode", "gt", True)),
    ]
    problems = rule_problems(rules, PURCHASE_ORDERS, "pipelines.s.streams.purchase_orders")
    assert problems[0].startswith(
        "pipelines.s.streams.purchase_orders.routes[0].when[0].field: 'WarehouseCod' is not a "
        "field of purchase orders; expected one of"
    )
    assert "WarehouseCode" in problems[0]
    assert problems[1].endswith("routes[1].when[0].value: op 'in' expects a list of values")
    assert "routes[2].when[0].value" in problems[2]
    assert (
        rule_problems([rule("CX0000000", cond("event", "eq", "updated"))], AP_INVOICES, "x") == []
    )


money = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)


@given(money, money)
def test_numeric_ops_agree_with_decimal(actual: Decimal, limit: Decimal) -> None:
    record = {"InvoiceAmt": str(actual)}
    assert matches(cond("InvoiceAmt", "gt", float(limit)), record) == (
        actual > Decimal(str(float(limit)))
    )
    assert matches(cond("InvoiceAmt", "eq", float(limit)), record) == (
        actual == Decimal(str(float(limit)))
    )
