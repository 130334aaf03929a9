"""Reading agent values: money stays Decimal, dates and stamps parse strictly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.errors import PermanentError
from ml_connector.sage100.collect.records import (
    Sage100RecordError,
    business_date,
    created_stamp,
    money,
    stamp,
)


def test_money_is_decimal_and_blank_is_zero() -> None:
    assert money({"InvoiceAmt": "1234.50"}, "InvoiceAmt") == Decimal("1234.50")
    assert money({"InvoiceAmt": ""}, "InvoiceAmt") == Decimal("0.00")
    assert money({}, "InvoiceAmt") == Decimal("0.00")


@pytest.mark.parametrize("bad", ["12,50", "NaN", "Infinity", 0.1])
def test_money_refuses_what_is_not_an_exact_amount(bad: object) -> None:
    with pytest.raises(Sage100RecordError) as caught:
        money({"record_key": "01-A-1", "InvoiceAmt": bad}, "InvoiceAmt")
    assert isinstance(caught.value, PermanentError)
    assert "'01-A-1'" in str(caught.value) and "InvoiceAmt" in str(caught.value)


def test_dates_in_iso_or_sage_form() -> None:
    assert business_date({"d": "2026-11-25"}, "d") == date(2026, 11, 25)
    assert business_date({"d": "20261125"}, "d") == date(2026, 11, 25)
    assert business_date({"d": ""}, "d") is None
    with pytest.raises(Sage100RecordError, match="d is not a date"):
        business_date({"d": "20261325"}, "d")


def test_stamps_are_normalised_and_zones_refused() -> None:
    assert stamp({"stamp": "2026-11-25T09:30"}) == "2026-11-25T09:30:00"
    with pytest.raises(Sage100RecordError, match="stamp is not a local time"):
        stamp({"stamp": "2026-11-25T09:30:00Z"})


def test_created_stamp_reads_sage_decimal_hours() -> None:
    assert created_stamp({"DateCreated": "20261125", "TimeCreated": "14.50833"}) == (
        "2026-11-25T14:30:30"
    )
    assert created_stamp({"DateCreated": None}) is None
    with pytest.raises(Sage100RecordError, match="DateCreated/TimeCreated"):
        created_stamp({"DateCreated": "20261125", "TimeCreated": "25.0"})


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_amount_strings_round_trip_exactly(amount: Decimal) -> None:
    assert money({"x": f"{amount:.2f}"}, "x") == amount
