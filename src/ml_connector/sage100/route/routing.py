"""Which channels one record goes to: the stream's channel, adjusted by ordered rules.

Rules are read top to bottom. A matching rule with ``also = true`` adds its channel (an
invoice over 10,000 also goes to approvals); the first matching rule without it replaces
the default channel (warehouse 002's purchase orders go to that warehouse's channel), and
later replacing rules are ignored. A record is never posted twice to one channel.

How a condition compares is decided by the type of the value written in the config, so a
rule means what it looks like: a number compares numerically (``InvoiceAmt gt 10000``), a
string compares as text (``WarehouseCode eq "002"``, ISO dates in order), ``true``/``false``
match Sage's Y/N flags. A condition on a field the record lacks is false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector.config import RouteCondition, RouteRule
from ml_connector.sage100.collect.streams import StreamSpec

Scalar = str | float | int | bool

_TRUE = {"Y", "YES", "TRUE", "1"}
_FALSE = {"N", "NO", "FALSE", "0"}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    word = str(value).strip().upper()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def _compare(actual: Any, expected: Scalar) -> int | None:
    """-1, 0 or 1 as ``actual`` is below, equal to or above ``expected``; None: incomparable."""
    left: Any
    right: Any
    if isinstance(expected, bool):
        flag = _flag(actual)
        return None if flag is None else (0 if flag == expected else 1)
    if isinstance(expected, int | float):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return None
    else:
        left, right = str(actual).strip(), expected.strip()
    return int(left > right) - int(left < right)


def matches(condition: RouteCondition, fields: Mapping[str, Any]) -> bool:
    actual = fields.get(condition.field)
    if actual is None or (isinstance(actual, str) and not actual.strip()):
        return False
    value = condition.value
    op = condition.op
    if op == "in":
        options = value if isinstance(value, list) else [value]
        return any(_compare(actual, option) == 0 for option in options)
    if op == "contains":
        return str(value).strip().casefold() in str(actual).casefold()
    if isinstance(value, list):
        return False
    order = _compare(actual, value)
    if order is None:
        return False
    return {
        "eq": order == 0,
        "ne": order != 0,
        "gt": order > 0,
        "ge": order >= 0,
        "lt": order < 0,
        "le": order <= 0,
    }[op]


def route(default: str, rules: Sequence[RouteRule], fields: Mapping[str, Any]) -> list[str]:
    """The channels for one record, the main one first."""
    main = default
    replaced = False
    extra: list[str] = []
    for rule in rules:
        if not all(matches(c, fields) for c in rule.when):
            continue
        if rule.also:
            extra.append(rule.channel)
        elif not replaced:
            main, replaced = rule.channel, True
    channels = [main]
    for channel in extra:
        if channel not in channels:
            channels.append(channel)
    return channels


def rule_problems(rules: Sequence[RouteRule], spec: StreamSpec, where: str) -> list[str]:
    """Config problems in ``rules``, one line each, named by their dotted key."""
    problems: list[str] = []
    known = ", ".join(sorted(spec.fields))
    for i, rule in enumerate(rules):
        for j, condition in enumerate(rule.when):
            key = f"{where}.routes[{i}].when[{j}]"
            if condition.field not in spec.fields:
                problems.append(
                    f"{key}.field: {condition.field!r} is not a field of {spec.plural}; "
                    f"expected one of {known}"
                )
            value = condition.value
            if condition.op == "in" and not isinstance(value, list):
                problems.append(f"{key}.value: op 'in' expects a list of values")
            elif condition.op != "in" and isinstance(value, list):
                problems.append(f"{key}.value: op {condition.op!r} expects one value, not a list")
            elif condition.op == "contains" and not isinstance(value, str):
                problems.append(f"{key}.value: op 'contains' expects a string")
            elif condition.op in ("gt", "ge", "lt", "le") and isinstance(value, bool):
                problems.append(f"{key}.value: op {condition.op!r} expects a number or a string")
    return problems
