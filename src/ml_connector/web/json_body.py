"""JSON request bodies, parsed only within a nesting-depth limit.

Python's ``json`` recurses once per level, so a signed body nested a thousand levels deep
raised RecursionError, answered 500, and Slack redelivered it three more times. The depth is
measured first, without recursion, over the brackets outside string literals; a body past
``max_depth`` (or not JSON at all) is refused with 400 and a reason. The size is bounded
before this, when the body is read (413 past ``server.max_body_bytes``).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# A JSON string literal: quotes around anything but a quote or backslash, or an escape.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRefused(ValueError):
    """Why a body is not acceptable JSON; the message is safe to send back."""


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside string literals (0 for a scalar)."""
    brackets = _BRACKETS.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, *accumulate(_STEP[ch] for ch in brackets))


def parse_json(body: bytes, max_depth: int) -> Any:
    """The decoded body, or :class:`JsonRefused` naming the problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("body is not JSON (not UTF-8)") from None
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonRefused(f"JSON nested {depth} levels deep; at most {max_depth} are accepted")
    try:
        return json.loads(text)
    except RecursionError:  # unreachable past the depth check; kept as the last word
        raise JsonRefused(f"JSON nested too deep; at most {max_depth} levels") from None
    except ValueError:
        raise JsonRefused("body is not JSON") from None
