"""Where in its slot a poll starts: a fixed offset per (pipeline, company, stream).

A thousand companies on the same ``*/15`` cron would otherwise all start in the same second.
The offset is a hash of the poll's name, not a random draw, so it is the same in every
process and after every restart (a company's poll is always "the one at :07 past"), tests
can predict it, and the spread over the window is uniform for many names. It is bounded by
the window, which the config caps at 60 s (``scheduling.jitter_seconds``).
"""

from __future__ import annotations

import hashlib
import math

# 2**64: the hash's first eight bytes as a fraction in [0, 1).
_SCALE = float(1 << 64)


def jitter_fraction(pipeline: str, company: str | None, stream: str | None) -> float:
    """A stable number in [0, 1) for this poll."""
    name = "\x1f".join((pipeline, company or "", stream or ""))
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def jitter_seconds(pipeline: str, company: str | None, stream: str | None, window: float) -> float:
    """Seconds after its slot this poll starts: in [0, ``window``)."""
    if window <= 0:
        return 0.0
    offset = jitter_fraction(pipeline, company, stream) * window
    # a fraction just under 1 times a tiny window can round up to the window itself
    return offset if offset < window else math.nextafter(window, 0.0)
