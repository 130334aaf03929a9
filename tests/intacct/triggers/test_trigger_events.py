"""The trigger body parser: only object names and record keys come out, and anything else is
a ``BadEvent`` naming the problem (never another exception)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.intacct.trigger_events import BadEvent, RecordRef, parse_event
from ml_connector.json_depth import depth_exceeds as json_depth_exceeds


def test_the_printed_templates_filled_in() -> None:
    body = b'{"object": "GLENTRY", "recordno": "881", "batch": "42"}'
    assert parse_event(body, "application/json", max_depth=8) == [RecordRef("GLBATCH", "42")]
    xml = b"<event><object>APPAYMENTREQUEST</object><recordno>007</recordno></event>"
    assert parse_event(xml, "text/xml", max_depth=8) == [RecordRef("APPYMT", "7")]
    many = json.dumps([{"object": "VENDOR", "recordno": 3}, {"object": "vendor", "recordno": "3"}])
    assert parse_event(many.encode(), "", max_depth=8) == [RecordRef("VENDOR", "3")]


@pytest.mark.parametrize(
    "body",
    [
        b'{"object": "APPYMT", "recordno": "{!APPYMT.RECORDNO!}"}',
        b'{"object": "APPYMT", "recordno": "12; DROP"}',
        b'{"object": "APPYMT", "recordno": true}',
        b'{"object": "APPYMT", "recordno": "\xd9\xa3"}',
        b'{"object": "GLENTRY", "recordno": "1"}',
        b'{"object": "CUSTOMER", "recordno": "1"}',
        b'{"object": "APPYMT", "recordno": "1234567890123456789"}',
        b"[]",
        b"not a trigger",
        b"<event><object>APPYMT</object>",
    ],
)
def test_refused(body: bytes) -> None:
    with pytest.raises(BadEvent):
        parse_event(body, "", max_depth=8)


def test_depth_is_checked_before_parsing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert json_depth_exceeds(deep, 8)
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[\\"[[["}', 2)
    with pytest.raises(BadEvent, match="deeper"):
        parse_event(deep, "application/json", max_depth=8)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["", "application/json", "application/xml"]))
def test_any_bytes_give_refs_or_bad_event(body: bytes, content_type: str) -> None:
    try:
        refs = parse_event(body, content_type, max_depth=8)
    except BadEvent:
        return
    assert refs and all(
        r.object in {"GLBATCH", "APPYMT", "VENDOR"} and r.key.isdigit() for r in refs
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["object", "recordno", "batch", "x"]), json_values))
def test_any_json_object_gives_refs_or_bad_event(item: dict[str, object]) -> None:
    body = json.dumps(item).encode()
    try:
        refs = parse_event(body, "application/json", max_depth=8)
    except BadEvent:
        return
    (ref,) = refs
    assert ref.key.isdigit()
