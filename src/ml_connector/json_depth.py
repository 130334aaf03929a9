"""How deeply a JSON document nests, measured without parsing it.

Python's ``json`` recurses once per level. A body nested a thousand levels deep raises
RecursionError, which the caller would answer with a 500 (and Slack or Intacct would send
the body again). So both JSON entrances measure the depth first and refuse a body past their
limit: ``web/json_body.py`` for Slack's requests and ``intacct/trigger_events.py`` for
Intacct's triggers.

The measure needs no recursion. It removes the string literals, then counts the brackets
that are left. An unterminated string runs to the end, as it does for a parser. Bytes are
read as Latin-1, one character per byte. The quotes, backslashes and brackets of UTF-8 text
are single bytes that no multi-byte character contains, so the body need not be valid UTF-8
to be measured.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A JSON string literal: a quote, then anything but a quote or backslash, or an escape; up to
# the closing quote, or to the end when there is none.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(document: str | bytes) -> int:
    """The deepest bracket nesting outside string literals (0 for a scalar)."""
    text = document.decode("latin-1") if isinstance(document, bytes) else document
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, *accumulate(_STEP[ch] for ch in brackets))


def depth_exceeds(document: str | bytes, limit: int) -> bool:
    """Whether the document nests arrays and objects deeper than ``limit``."""
    return nesting_depth(document) > limit
