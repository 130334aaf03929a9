from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_agent.paging import (
    Candidate,
    InvalidRequest,
    Position,
    decimal_hours,
    decode_after,
    encode_after,
    parse_changed_since,
    parse_company_code,
    parse_limit,
    record_stamp,
    seconds_of_day,
    select_page,
    stamp_of,
)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)))
def test_decimal_hours_round_trip_to_the_second(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    stored = decimal_hours(moment)
    assert len(stored) <= 8  # TimeCreated is 8 characters wide in the layouts
    assert stamp_of(moment.strftime("%Y%m%d"), stored) == moment.isoformat()


def test_sage_time_values() -> None:
    assert seconds_of_day("14.50833") == 14 * 3600 + 30 * 60 + 30
    assert seconds_of_day("") == 0
    assert seconds_of_day(None) == 0
    assert seconds_of_day("23.99999") == 86399
    with pytest.raises(ValueError):
        seconds_of_day("25.1")
    with pytest.raises(ValueError):
        seconds_of_day("noon")


def test_record_stamp_prefers_update_then_creation() -> None:
    row = {"DateCreated": "20240501", "TimeCreated": "9.5", "DateUpdated": "", "TimeUpdated": ""}
    assert record_stamp(row) == "2024-05-01T09:30:00"
    row |= {"DateUpdated": "20240502", "TimeUpdated": "10.25"}
    assert record_stamp(row) == "2024-05-02T10:15:00"


@pytest.mark.parametrize(
    "raw", ["AB", "ABCD", "a-c", "A C", "", "ÄBC", "aß", "\ufb00a", " ABC", "ABC\n"]
)
def test_bad_company_codes(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="exactly three letters or digits"):
        parse_company_code(raw)


def test_company_codes_are_upper_cased() -> None:
    assert parse_company_code("abc") == "ABC"
    assert parse_company_code("T01") == "T01"


def test_changed_since_rejects_zones_and_garbage() -> None:
    assert parse_changed_since("2024-05-01T14:30") == "2024-05-01T14:30:00"
    assert parse_changed_since("2024-05-01") == "2024-05-01T00:00:00"
    with pytest.raises(InvalidRequest, match="time zone"):
        parse_changed_since("2024-05-01T14:30:00+02:00")
    with pytest.raises(InvalidRequest):
        parse_changed_since("yesterday")


def test_limit_bounds() -> None:
    assert parse_limit(None) == 500
    for bad in ("0", "5001", "ten"):
        with pytest.raises(InvalidRequest):
            parse_limit(bad)


@given(
    st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", fullmatch=True),
    st.text(max_size=60),
)
def test_after_token_round_trip(stamp: str, key: str) -> None:
    token = encode_after("gl-postings", Position(stamp, key))
    assert decode_after("gl-postings", token) == Position(stamp, key)
    with pytest.raises(InvalidRequest, match="belongs to"):
        decode_after("ap-invoices", token)


def test_forged_token_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        decode_after("gl-postings", "not-a-token")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2024-01-01T00:00:00", "2024-01-01T00:00:01"]), st.text(max_size=3)
        ),
        unique=True,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_select_page_walks_every_candidate_once_in_order(
    pairs: list[tuple[str, str]], limit: int
) -> None:
    candidates = [Candidate(s, k, {}) for s, k in pairs]
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page, more = select_page(iter(candidates), since=None, after=after, limit=limit)
        seen.extend((c.stamp, c.record_key) for c in page)
        if not more:
            break
        after = page[-1].position
    assert seen == sorted(pairs)
