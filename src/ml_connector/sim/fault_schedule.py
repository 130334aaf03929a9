"""The schedule of injected faults that every simulator keeps, and when a fault fires.

A test schedules a fault to fire on every eligible request, on the next ``count`` of them, or
at random with ``probability`` per request. The draw comes from the simulator's seeded
generator, so a run repeats. Each simulator says which requests a fault applies to and what
it does (``sim/intacct/faults.py``, ``sim/slack/faults.py``). This module keeps what they
share: the active faults, the decision to fire one (which spends one of its uses), and a
tally of the faults injected (``injected[kind]``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass
class ScheduledFault:
    """What every fault has: its kind, the uses left (``None``: unlimited) and its chance."""

    kind: str
    remaining: int | None = None
    probability: float | None = None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


FaultT = TypeVar("FaultT", bound=ScheduledFault)


class FaultSchedule(Generic[FaultT]):
    """The active faults of one simulator and a tally of those injected."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._faults: list[FaultT] = []
        self.injected: Counter[str] = Counter()

    @staticmethod
    def _check(kind: str, kinds: Iterable[str], count: int | None) -> None:
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(kinds)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")

    def _schedule(self, fault: FaultT) -> FaultT:
        self._faults.append(fault)
        return fault

    def _fires(self, fault: FaultT) -> bool:
        """Whether ``fault`` fires for this request. A probability draws from the seeded
        generator; a fault that fires spends one use, and leaves the schedule when spent."""
        if fault.probability is not None and self._rng.random() >= fault.probability:
            return False
        if fault.remaining is not None:
            fault.remaining -= 1
        self.injected[fault.kind] += 1
        if fault.exhausted:
            self._faults.remove(fault)
        return True

    def active(self) -> list[FaultT]:
        return list(self._faults)

    def __len__(self) -> int:
        return len(self._faults)
