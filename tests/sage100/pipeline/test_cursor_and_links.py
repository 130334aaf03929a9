"""The stream cursor's invariants, and record links built from config templates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.sage100.collect.cursor import Position, StreamCursor, shift
from ml_connector.sage100.collect.records import format_stamp
from ml_connector.sage100.collect.streams import AP_INVOICES
from ml_connector.sage100.write.record_links import build, template_problems

BASE = datetime(2026, 3, 8, 1, 0, 0)  # the night US clocks jump: stamps are zone-less anyway

positions = st.builds(
    lambda minutes, key: Position(format_stamp(BASE + timedelta(minutes=minutes)), key),
    st.integers(min_value=0, max_value=600),
    st.text(alphabet="ABC0123-", min_size=1, max_size=6),
)


@given(positions, st.lists(positions, max_size=30), st.floats(min_value=0, max_value=30))
def test_advance_never_moves_back_and_remembers_only_the_overlap(
    start: Position, handled: list[Position], overlap: float
) -> None:
    cursor = StreamCursor(start).advance(handled, overlap, remember=True)
    assert cursor.position == max([start, *handled])
    horizon = shift(cursor.position.stamp, -overlap)
    assert all(stamp >= horizon for stamp in cursor.seen.values())
    latest = {p.record_key: p.stamp for p in sorted(handled)}
    for key, stamp in latest.items():
        if stamp >= horizon:
            assert key in cursor.seen
    assert StreamCursor.from_json(cursor.to_json()) == cursor


def test_window_starts_overlap_minutes_before_the_cursor() -> None:
    cursor = StreamCursor.starting_at("2026-11-25T00:01:00")
    assert cursor.window_start(2) == "2026-11-24T23:59:00"
    assert cursor.window_start(0) == "2026-11-25T00:01:00"


def test_a_cursor_with_a_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        StreamCursor.from_json({"stamp": "2026-11-25T00:01:00+00:00"})


def test_links_quote_values_and_know_the_company() -> None:
    template = "https://erp.example/{company}/ap?key={record_key}&v={VendorNo}"
    url = build(template, {"record_key": "01-A&B/1 2", "VendorNo": "A&B"}, "ABC")
    assert url == "https://erp.example/ABC/ap?key=01-A%26B%2F1%202&v=A%26B"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("erp/{record_key}", "expected an http(s) URL template"),
        ("https://erp/{RecordKey}", "unknown placeholder {RecordKey}"),
        ("https://erp/{record_key!r}", "is not a plain field placeholder"),
        ("https://erp/{record_key", "expected '}' before end of string"),
    ],
)
def test_bad_link_templates_are_config_errors(template: str, problem: str) -> None:
    [message] = template_problems(template, AP_INVOICES, "pipelines.p.streams.ap.record_link")
    assert message.startswith("pipelines.p.streams.ap.record_link: ")
    assert problem in message
