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
request (drawn from the simulator's seeded generator: ``sim/fault_schedule.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ml_connector.sim.fault_schedule import FaultSchedule, ScheduledFault

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
class Fault(ScheduledFault):
    kind: FaultKind
    object: str | None = None
    seconds: float = 1.0


class Faults(FaultSchedule[Fault]):
    """The active faults and a tally of those injected (``injected[kind]``)."""

    def add(
        self,
        kind: FaultKind,
        count: int | None = None,
        probability: float | None = None,
        object: str | None = None,
        seconds: float = 1.0,
    ) -> Fault:
        self._check(kind, FAULT_KINDS, count)
        if probability is not None and not 0.0 < probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        if object is not None and kind != "function_error":
            raise ValueError("object applies only to function_error")
        return self._schedule(Fault(kind, count, probability, object, seconds))

    def clear(self, kind: FaultKind | None = None) -> None:
        self._faults = [f for f in self._faults if kind is not None and f.kind != kind]

    def draw_request(self) -> FaultKind | None:
        """The one request-level fault (other than ``slow``) this request suffers, if any."""
        for fault in list(self._faults):
            if fault.kind in REQUEST_FAULTS and self._fires(fault):
                return fault.kind
        return None

    def draw_delay(self) -> float:
        """Seconds to hold this request back (``slow`` faults add up)."""
        delay = 0.0
        for fault in list(self._faults):
            if fault.kind == "slow" and self._fires(fault):
                delay += fault.seconds
        return delay

    def draw_function(self, object_name: str | None) -> bool:
        """Whether this function call (reading ``object_name``) fails by injection."""
        for fault in list(self._faults):
            if fault.kind != "function_error":
                continue
            if fault.object is not None and fault.object != object_name:
                continue
            if self._fires(fault):
                return True
        return False
