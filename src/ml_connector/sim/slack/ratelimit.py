"""Token buckets keyed the way Slack keys its limits.

Slack: "chat.postMessage generally allows posting one message per second per channel" with
"bursts over that limit for short periods"; other limits apply "per API method per
workspace/team per app" (https://docs.slack.dev/apis/web-api/rate-limits). A bucket per key
models both: ``burst`` calls at once, then one more every ``interval`` seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    interval: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Spend one token; return 0.0, or the seconds until a token is available."""
        if self.interval > 0:
            refill = (now - self.updated) / self.interval
            self.tokens = min(float(self.burst), self.tokens + refill)
        else:
            self.tokens = float(self.burst)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) * self.interval


class RateLimiter:
    """One bucket per key, all with the same interval and burst."""

    def __init__(
        self,
        interval: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0 or burst < 1:
            raise ValueError("interval must be >= 0 and burst >= 1")
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._buckets: dict[Hashable, TokenBucket] = {}

    def retry_after(self, key: Hashable) -> int | None:
        """Spend a call for ``key``: None when allowed, else Retry-After in whole seconds.

        Slack's header carries integer seconds, so a wait of a few milliseconds still reads 1.
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.interval, self.burst, float(self.burst), now)
            self._buckets[key] = bucket
        wait = bucket.take(now)
        if wait <= 0.0:
            return None
        return max(1, math.ceil(wait))
