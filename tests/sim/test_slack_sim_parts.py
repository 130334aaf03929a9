"""The Slack simulator's pure parts: Block Kit rules, metadata, cursors, buckets, mrkdwn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.sim.slack.api_error import ApiError
from ml_connector.sim.slack.blockkit import text_length, validate_blocks
from ml_connector.sim.slack.metadata import parse_metadata
from ml_connector.sim.slack.methods import decode_cursor, encode_cursor
from ml_connector.sim.slack.mrkdwn import mrkdwn_to_html
from ml_connector.sim.slack.ratelimit import RateLimiter
from ml_connector.sim.slack.state import micros_to_ts, ts_to_micros

# Tags the renderer may emit; anything else in its output would be injected markup.
OUR_MARKUP = re.compile(
    r'</?(?:b|i|s|code|pre)>|<br>|</a>|</span>|<span class="mention">'
    r'|<a href="[^"<>]*" rel="noopener noreferrer">'
)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@given(st.integers(min_value=0, max_value=3100))
def test_section_text_length_limit(length: int) -> None:
    problems = validate_blocks([section("x" * length)])
    assert (problems == []) == (1 <= length <= 3000)


@given(st.integers(min_value=0, max_value=60))
def test_block_count_limit(count: int) -> None:
    assert (validate_blocks([{"type": "divider"}] * count) == []) == (count <= 50)


def test_valid_notification_blocks_pass() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "GL posting run", "emoji": True}},
        section("*3 batches* posted"),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*f{n}*\n{n}"} for n in range(10)],
        },
        {"type": "divider", "block_id": "div-1"},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "run 7"},
                {"type": "image", "image_url": "https://x/i.png", "alt_text": "logo"},
            ],
        },
    ]
    assert validate_blocks(blocks) == []
    assert text_length(blocks) == sum(
        len(t) for t in ["GL posting run", "*3 batches* posted", "run 7"]
    ) + sum(len(f"*f{n}*\n{n}") for n in range(10))


def test_problems_carry_json_pointers() -> None:
    problems = validate_blocks(
        [section("ok"), {"type": "section", "text": {"type": "plain", "text": "x"}}, "nope"]
    )
    assert [str(p) for p in problems] == [
        "must be one of plain_text, mrkdwn [json-pointer:/blocks/1/text/type]",
        "must provide an object [json-pointer:/blocks/2]",
    ]


def test_metadata_shapes() -> None:
    good = {"event_type": "mlc_outbox", "event_payload": {"id": "1", "n": 2, "ok": True}}
    assert parse_metadata(good) == good
    assert parse_metadata('{"event_type":"t","event_payload":{"rows":[{"a":1}]}}')[
        "event_payload"
    ] == {"rows": [{"a": 1}]}
    for raw, code in [
        ("{", "invalid_metadata_format"),
        ("[]", "invalid_metadata_format"),
        ({"event_type": "", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "t", "event_payload": []}, "invalid_metadata_schema"),
        ({"event_type": "t", "event_payload": {"tags": ["a"]}}, "invalid_metadata_schema"),
        ({"event_type": "t", "event_payload": {"x": None}}, "invalid_metadata_schema"),
        ({"event_type": "t", "event_payload": {}, "extra": 1}, "invalid_metadata_schema"),
        ({"event_type": "t", "event_payload": {"x": "y" * 100}}, "metadata_too_large"),
    ]:
        with pytest.raises(ApiError) as caught:
            parse_metadata(raw, max_bytes=64)
        assert caught.value.code == code, raw


@given(st.integers(min_value=0, max_value=10**16))
def test_ts_and_cursor_round_trip(micros: int) -> None:
    ts = micros_to_ts(micros)
    assert re.match(r"^\d+\.\d{6}$", ts)
    assert ts_to_micros(ts) == micros
    assert decode_cursor(encode_cursor(micros)) == micros


def test_cursor_looks_like_slacks() -> None:
    # Slack's own cursors decode to "next_ts:<ts without the dot>".
    assert encode_cursor(1512085861000543) == "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz"
    for bad in ["", "bm9wZQ==", "!!", "bmV4dF90czp4"]:
        with pytest.raises(ApiError):
            decode_cursor(bad)


@pytest.mark.parametrize("ts", ["", "abc", "1.2.3", "1.1234567", "-1.0"])
def test_ts_parser_refuses_garbage(ts: str) -> None:
    with pytest.raises(ValueError):
        ts_to_micros(ts)


def test_token_bucket_burst_and_refill() -> None:
    now = [100.0]
    limiter = RateLimiter(interval=1.0, burst=2, clock=lambda: now[0])
    assert limiter.retry_after("c") is None
    assert limiter.retry_after("c") is None
    assert limiter.retry_after("c") == 1
    assert limiter.retry_after("other") is None  # one bucket per key
    now[0] += 0.5
    assert limiter.retry_after("c") == 1  # half a token is not a token
    now[0] += 0.5
    assert limiter.retry_after("c") is None
    slow = RateLimiter(interval=60.0, burst=1, clock=lambda: now[0])
    assert slow.retry_after("h") is None
    assert slow.retry_after("h") == 60


def test_mrkdwn_auto_links_what_slack_would_unless_verbatim() -> None:
    """https://docs.slack.dev/reference/block-kit/composition-objects/text-object: without
    ``verbatim`` URLs become links, channel names are link-ified and some mentions parsed."""
    names = {"C1": "payments"}
    text = "Acme.com paid, see https://x.example/a?b=1&c=2. #payments #nope @here @bob"
    rendered = mrkdwn_to_html(text, names)
    assert rendered.count("<a ") == 2
    assert '<a href="http://Acme.com"' in rendered
    assert 'href="https://x.example/a?b=1&amp;c=2"' in rendered  # the full stop stays text
    assert '<span class="mention">#payments</span>' in rendered and "#nope" in rendered
    assert '<span class="mention">@here</span>' in rendered and "@bob" in rendered
    verbatim = mrkdwn_to_html(text, names, verbatim=True)
    assert "<a " not in verbatim and "mention" not in verbatim
    top_level = mrkdwn_to_html(text, names, urls_only=True)
    assert top_level.count("<a ") == 2 and "mention" not in top_level
    assert mrkdwn_to_html("*Acme.com*") == (
        '<b><a href="http://Acme.com" class="auto" rel="noopener noreferrer">Acme.com</a></b>'
    )


@given(st.text(max_size=80))
def test_mrkdwn_auto_linking_never_lets_markup_through(text: str) -> None:
    rendered = mrkdwn_to_html(text, {"C1": "payments"})
    stripped = re.sub(r'<a href="[^"<>]*" (class="auto" )?rel="noopener noreferrer">', "", rendered)
    stripped = re.sub(r"</?(b|i|s|code|pre|a|br|span)( class=\"mention\")?>", "", stripped)
    assert "<" not in stripped and ">" not in stripped


def test_mrkdwn_rendering() -> None:
    assert mrkdwn_to_html("*bold* _it_ ~gone~ `x*y*`") == (
        "<b>bold</b> <i>it</i> <s>gone</s> <code>x*y*</code>"
    )
    assert mrkdwn_to_html("<https://a.example/?q=1&amp;r=2|AT&amp;T>") == (
        '<a href="https://a.example/?q=1&amp;r=2" rel="noopener noreferrer">AT&amp;T</a>'
    )
    assert mrkdwn_to_html("<javascript:alert(1)|click>") == "click"
    assert mrkdwn_to_html("<#C123>", {"C123": "payments"}) == (
        '<span class="mention">#payments</span>'
    )
    assert mrkdwn_to_html("<!here> a\nb") == '<span class="mention">@here</span> a<br>b'
    assert mrkdwn_to_html("```<pre>```") == "<pre>&lt;pre&gt;</pre>"
    assert mrkdwn_to_html("a*b*c 2*3*4") == "a*b*c 2*3*4"


@given(st.text())
def test_mrkdwn_output_has_no_markup_but_ours(text: str) -> None:
    rendered = OUR_MARKUP.sub("", mrkdwn_to_html(text))
    assert "<" not in rendered and ">" not in rendered
