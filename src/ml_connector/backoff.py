"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

Full jitter spreads retries of many messages that failed together across the whole window,
so a Slack outage does not end in a synchronized stampede.
"""

from __future__ import annotations

import random


def ceiling(attempt: int, base: float, cap: float) -> float:
    """The longest wait before retry number ``attempt`` (1 = first retry): base·2^(n−1), capped."""
    return float(min(cap, base * 2 ** max(attempt - 1, 0)))


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = first retry)."""
    return (rng or random).uniform(0, ceiling(attempt, base, cap))
