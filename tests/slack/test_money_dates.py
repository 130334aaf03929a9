"""Money and dates as a finance team reads them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.slack.dates import format_date, format_datetime
from ml_connector.slack.money import format_amount, format_money

GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$")


@given(st.decimals(allow_nan=False, allow_infinity=False), st.sampled_from(["USD", "JPY", "KWD"]))
def test_amount_reads_back_as_the_rounded_value(amount: Decimal, currency: str) -> None:
    places = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    text = format_money(amount, currency)
    code, number = text.split(" ", 1)
    assert code == currency
    assert GROUPED.match(number), number
    if places:
        assert len(number.split(".")[1]) == places
    wide = Context(prec=max(28, amount.adjusted() + places + 2))
    expected = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=wide)
    assert Decimal(number.replace(",", "")) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "symbol", "expected"),
    [
        (Decimal("1234567.891"), "USD", False, "USD 1,234,567.89"),
        (Decimal("-1234.5"), "usd", False, "USD -1,234.50"),
        (Decimal("-1234.5"), "USD", True, "-$1,234.50"),
        (Decimal("1234.5"), "EUR", True, "€1,234.50"),
        (Decimal("1234.5"), "CHF", True, "CHF 1,234.50"),
        (Decimal("-0.004"), "USD", False, "USD 0.00"),
        (Decimal("0.005"), "USD", False, "USD 0.01"),
        (Decimal("1500"), "JPY", False, "JPY 1,500"),
        (Decimal("1E+30"), "USD", False, "USD 1,000,000,000,000,000,000,000,000,000,000.00"),
    ],
)
def test_money_examples(amount: Decimal, currency: str, symbol: bool, expected: str) -> None:
    assert format_money(amount, currency, symbol=symbol) == expected


def test_non_finite_amounts_do_not_fail_a_message() -> None:
    assert format_amount(Decimal("NaN")) == "NaN"
    assert format_money(Decimal("-Infinity"), "USD") == "USD -Infinity"


def test_datetimes_show_in_the_pipeline_zone_with_its_name() -> None:
    chicago = ZoneInfo("America/Chicago")
    moment = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
    assert format_datetime(moment, chicago) == "2026-11-25 22:30 CST"
    assert format_datetime(moment.timestamp(), chicago) == "2026-11-25 22:30 CST"
    assert format_date(moment, chicago) == "2026-11-25"
    assert format_date(date(2026, 1, 2), chicago) == "2026-01-02"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2026, 1, 1), ZoneInfo("UTC"))
