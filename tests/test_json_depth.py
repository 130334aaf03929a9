"""The one depth measure both JSON entrances use, against a byte-by-byte scanner.

The scanner is the measure the trigger intake used before the two entrances shared one: it
reads every byte, in a string or not, and tracks the depth. It is the oracle here for any
bytes, well-formed or not, so the shared measure refuses exactly what it refused.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.json_depth import depth_exceeds, nesting_depth


def scanned_depth(body: bytes) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return deepest


bodies = st.binary(max_size=200) | st.text(alphabet='[]{}"\\a,: é', max_size=200).map(
    lambda text: text.encode()
)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_the_measure_is_the_byte_scanners(body: bytes) -> None:
    assert nesting_depth(body) == scanned_depth(body)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return
    assert nesting_depth(text) == nesting_depth(body)


def test_an_unterminated_string_runs_to_the_end() -> None:
    assert nesting_depth(b'["abc[[[[') == 1
    assert nesting_depth('["abc\\') == 1
    assert not depth_exceeds(b'{"a": "[[[[[[[[[[[[\\"[[["}', 2)
    assert depth_exceeds(b"[" * 100_000 + b"]" * 100_000, 64)
