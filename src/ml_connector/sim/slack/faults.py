"""Faults a test schedules on the simulator: failures Slack and the network really produce.

A fault matches one Web API method (or every method) and fires on every matching call, on the
next ``count`` calls, or at random with ``probability`` (seeded, so runs repeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ml_connector.sim.fault_schedule import FaultSchedule, ScheduledFault

FaultKind = Literal[
    "http_500",
    "http_503",
    "drop",
    "slow",
    "internal_error",
    "fatal_error",
    "api_error",
    "lost_answer",
    "ratelimited",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

# Faults that answer instead of the method: the request never takes effect.
BEFORE_HANDLING: frozenset[str] = frozenset(
    {"http_500", "http_503", "drop", "internal_error", "fatal_error", "api_error", "ratelimited"}
)
# Faults that let the method run (a message is stored) and then spoil the answer: the
# duplicate-post scenarios of research/slack.md §8.
AFTER_HANDLING: frozenset[str] = frozenset({"slow", "lost_answer"})


@dataclass
class Fault(ScheduledFault):
    """One scheduled fault.

    ``delay`` is the extra latency of ``slow``; ``retry_after`` the header of ``ratelimited``;
    ``error`` the code of ``api_error`` (e.g. ``missing_scope``, ``account_inactive``).
    """

    kind: FaultKind
    method: str | None = None
    delay: float = 1.0
    retry_after: int = 1
    error: str = "internal_error"

    def matches(self, method: str) -> bool:
        return self.method is None or self.method == method


class Faults(FaultSchedule[Fault]):
    """The fault schedule of one simulator and a count of what was actually injected."""

    def add(
        self,
        *,
        kind: FaultKind,
        method: str | None = None,
        count: int | None = None,
        probability: float | None = None,
        delay: float = 1.0,
        retry_after: int = 1,
        error: str = "internal_error",
    ) -> Fault:
        """Schedule a fault; ``method=None`` applies it to every Web API method."""
        self._check(kind, FAULT_KINDS, count)
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("delay and retry_after must not be negative")
        return self._schedule(Fault(kind, count, probability, method, delay, retry_after, error))

    def clear(self) -> None:
        """Remove every scheduled fault; ``injected`` keeps its history."""
        self._faults.clear()

    def pick(self, method: str) -> Fault | None:
        """The first scheduled fault that fires for this call, spending one of its uses."""
        for fault in list(self._faults):
            if fault.matches(method) and self._fires(fault):
                return fault
        return None
