"""Properties of the parser and the value formats, over generated answers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from ml_connector.intacct.gateway import (
    MalformedResponseError,
    ResponseParser,
    TruncatedResponseError,
)
from ml_connector.intacct.gateway.objects import (
    format_date,
    format_timestamp,
    parse_date,
    parse_decimal,
    parse_timestamp,
)
from ml_connector.intacct.gateway.parse import parse_response

# Every test here runs with both record loops (conftest.record_loop).
pytestmark = pytest.mark.usefixtures("record_loop")

# Characters XML 1.0 can carry (no C0 controls but tab/newline, no surrogates, no FFFE/FFFF);
# carriage returns are normalised away by any XML parser, so leave them out too.
xml_text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\ufffe\uffff",
        min_codepoint=0x20,
    )
    | st.sampled_from("\t\n"),
    min_size=1,
    max_size=30,
)
amounts = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31))
stamps = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31)).map(
    lambda value: value.replace(microsecond=0)
)


@st.composite
def glentries(draw: st.DrawFn) -> dict[str, object]:
    record: dict[str, object] = {
        "RECORDNO": draw(st.integers(1, 10**12)),
        "AMOUNT": draw(amounts),
        "ENTRY_DATE": draw(dates),
        "WHENMODIFIED": draw(stamps),
        "DESCRIPTION": draw(st.none() | xml_text),
        "DISPLAYCONTACT.MAILADDRESS.CITY": draw(xml_text),
    }
    return record


def render(records: list[dict[str, object]]) -> bytes:
    root = etree.Element("response")
    control = etree.SubElement(root, "control")
    etree.SubElement(control, "status").text = "success"
    operation = etree.SubElement(root, "operation")
    auth = etree.SubElement(operation, "authentication")
    for tag, text in (("status", "success"), ("userid", "u"), ("companyid", "c")):
        etree.SubElement(auth, tag).text = text
    result = etree.SubElement(operation, "result")
    for tag, text in (("status", "success"), ("function", "query"), ("controlid", "f")):
        etree.SubElement(result, tag).text = text
    data = etree.SubElement(result, "data", listtype="GLENTRY", count=str(len(records)))
    for record in records:
        element = etree.SubElement(data, "GLENTRY")
        for name, value in record.items():
            field = etree.SubElement(element, name)
            if isinstance(value, datetime):
                field.text = format_timestamp(value)
            elif isinstance(value, date):
                field.text = format_date(value)
            elif value is not None:
                field.text = str(value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@settings(max_examples=60, deadline=None)
@given(st.lists(glentries(), max_size=12), st.integers(1, 300))
def test_records_round_trip_whatever_the_chunking(
    records: list[dict[str, object]], chunk: int
) -> None:
    body = render(records)
    parser = ResponseParser()
    for start in range(0, len(body), chunk):
        parser.feed(body[start : start + chunk])
    (result,) = parser.close().results
    assert result.records == records


@settings(max_examples=60, deadline=None)
@given(st.lists(glentries(), min_size=1, max_size=4), st.data())
def test_a_cut_answer_is_an_error_never_a_result(
    records: list[dict[str, object]], data: st.DataObject
) -> None:
    body = render(records)
    cut = data.draw(st.integers(0, len(body) - 1))
    try:
        parse_response(body[:cut])
    except TruncatedResponseError:
        assert cut > body.index(b"<response")
    except MalformedResponseError:
        pass
    else:
        raise AssertionError(f"an answer cut at {cut} of {len(body)} bytes parsed")


@given(dates)
def test_dates_round_trip(value: date) -> None:
    assert parse_date(format_date(value)) == value


@given(stamps)
def test_timestamps_round_trip(value: datetime) -> None:
    assert parse_timestamp(format_timestamp(value)) == value


@given(amounts)
def test_amounts_round_trip(value: Decimal) -> None:
    assert parse_decimal(str(value)) == value
