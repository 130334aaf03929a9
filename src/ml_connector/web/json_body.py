"""JSON request bodies, parsed only within a nesting-depth limit.

Python's ``json`` recurses once per level, so a signed body nested a thousand levels deep
raised RecursionError, answered 500, and Slack redelivered it three more times. The depth is
measured first, without recursion (``ml_connector.json_depth``); a body past
``max_depth`` (or not JSON at all) is refused with 400 and a reason. The size is bounded
before this, when the body is read (413 past ``server.max_body_bytes``).
"""

from __future__ import annotations

import json
from typing import Any

from ml_connector.json_depth import nesting_depth


class JsonRefused(ValueError):
    """Why a body is not acceptable JSON; the message is safe to send back."""


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
