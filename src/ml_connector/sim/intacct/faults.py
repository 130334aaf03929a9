"""Injectable failures, each shaped like one the real gateway (or the CDN in front of it) shows.

Kinds and what the client sees:

``http_500``
    HTTP 500 with an HTML page and no XML (DOC error-handling: "no XML response … you may
    receive an HTTP error code such as a 500"). Transient.
``gw_0010``
    HTTP 429 whose XML body is a control failure with errorno GW-0010 (DOC error-handling:
    "429 errors (GW-0010)"), the same answer the concurrency limit gives. Transient.
``offline``
    HTTP 200, control and authentication fine, every function failing with description2
    "The Service is Temporarily Off-line, [Support ID: …]" (function level, as
    fylein/sageintacct-sdk-py classifies it). Transient.
``rate_limit_200``
    HTTP 200 whose control block fails with "API rate limit exceeded" (the research found the
    text "anywhere in a 200 body"; control level is the strictest place). Transient.
``slow``
    The answer is held back ``seconds`` while the request occupies a concurrency slot.
``truncated``
    The headers promise the whole body, half of it is sent, then the connection is closed: what
    a dropped connection looks like to the client. Transient.
``function_error``
    One function (on ``object`` if given) fails with a permanent function-level error while the
    other functions of the request succeed.

A fault fires on every eligible request, or ``count`` times, or with ``probability`` per
request (drawn from the simulator's seeded generator).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal[
    "http_500", "offline", "rate_limit_200", "gw_0010", "slow", "truncated", "function_error"
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
REQUEST_FAULTS: tuple[FaultKind, ...] = (
    "http_500",
    "gw_0010",
    "truncated",
    "offline",
    "rate_limit_200",
)


@dataclass
class Fault:
    kind: FaultKind
    count: int | None = None
    probability: float | None = None
    object: str | None = None
    seconds: float = 1.0

    def exhausted(self) -> bool:
        return self.count is not None and self.count <= 0


class Faults:
    """The active faults and a tally of those injected (``injected[kind]``)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._faults: list[Fault] = []
        self.injected: Counter[str] = Counter()

    def add(
        self,
        kind: FaultKind,
        count: int | None = None,
        probability: float | None = None,
        object: str | None = None,
        seconds: float = 1.0,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULT_KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if probability is not None and not 0.0 < probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        if object is not None and kind != "function_error":
            raise ValueError("object applies only to function_error")
        fault = Fault(kind, count, probability, object, seconds)
        self._faults.append(fault)
        return fault

    def clear(self, kind: FaultKind | None = None) -> None:
        self._faults = [f for f in self._faults if kind is not None and f.kind != kind]

    def active(self) -> list[Fault]:
        return list(self._faults)

    def _fire(self, fault: Fault) -> bool:
        if fault.probability is not None and self._rng.random() >= fault.probability:
            return False
        if fault.count is not None:
            fault.count -= 1
        self.injected[fault.kind] += 1
        if fault.exhausted():
            self._faults.remove(fault)
        return True

    def draw_request(self) -> FaultKind | None:
        """The one request-level fault (other than ``slow``) this request suffers, if any."""
        for fault in list(self._faults):
            if fault.kind in REQUEST_FAULTS and self._fire(fault):
                return fault.kind
        return None

    def draw_delay(self) -> float:
        """Seconds to hold this request back (``slow`` faults add up)."""
        delay = 0.0
        for fault in list(self._faults):
            if fault.kind == "slow" and self._fire(fault):
                delay += fault.seconds
        return delay

    def draw_function(self, object_name: str | None) -> bool:
        """Whether this function call (reading ``object_name``) fails by injection."""
        for fault in list(self._faults):
            if fault.kind != "function_error":
                continue
            if fault.object is not None and fault.object != object_name:
                continue
            if self._fire(fault):
                return True
        return False
