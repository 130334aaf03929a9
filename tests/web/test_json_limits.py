"""Every JSON body is parsed within a depth limit: too deep is 400 with a reason, never 5xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.json_depth import nesting_depth

from .conftest import ServerFactory, make_config

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), children, max_size=3)
    ),
    max_leaves=20,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


# No deadline: a loaded CI machine is slow on the deepest examples, not wrong.
@settings(max_examples=200, deadline=None)
@given(values)
def test_nesting_depth_counts_brackets_outside_strings(value: Any) -> None:
    assert nesting_depth(json.dumps(value)) == depth_of(value)


def nested(depth: int) -> dict[str, Any]:
    inner: Any = "bottom ]]]] {{{{"
    for _ in range(depth - 2):
        inner = [inner]
    return {"type": "event_callback", "event_id": "Ev0DEEP0001", "event": {"type": "x", "a": inner}}


async def test_a_signed_body_1000_levels_deep_is_refused_with_400(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    body = b'{"type":"event_callback","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    status, text, _ = await server.post_signed("/slack/events", body)
    assert status == 400
    assert b"nested 1001 levels deep; at most 64" in text


async def test_the_depth_limit_is_configured_and_exact(start_server: ServerFactory) -> None:
    server = await start_server(config=make_config(max_json_depth=10))
    at_limit = json.dumps(nested(10)).encode()
    assert nesting_depth(at_limit.decode()) == 10
    status, _text, _ = await server.post_signed("/slack/events", at_limit)
    assert status == 200
    over = json.dumps(nested(11)).encode()
    status, text, _ = await server.post_signed("/slack/events", over)
    assert status == 400
    assert b"at most 10" in text


async def test_a_body_over_the_size_cap_is_refused_before_parsing(
    start_server: ServerFactory,
) -> None:
    server = await start_server(config=make_config(max_body_bytes=2048))
    body = json.dumps({"type": "event_callback", "pad": "x" * 4000}).encode()
    status, text, _ = await server.post_signed("/slack/events", body)
    assert status == 413
    assert b"over 2048 bytes" in text
