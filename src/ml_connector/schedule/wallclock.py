"""From a local wall-clock time to the instants it stands for, across daylight saving changes.

What users expect, and what Vixie cron does:

* **Clocks go forward** (02:00 → 03:00): a job fixed at 02:30 would never run that day, so it
  runs once at the moment the clocks jump (03:00 local). A ``*``-minute or ``*``-hour job just
  has fewer runs in that hour: it follows elapsed time.
* **Clocks go back** (02:00 → 01:00): a job fixed at 01:30 runs once, at the first 01:30, not
  twice. A ``*`` job ("hourly") keeps its elapsed-time cadence and runs in both 01:00 hours.

Aware datetimes of one zone compare by their wall-clock reading, ignoring ``fold``, so callers
must order instants by ``timestamp()``, never by comparing these datetimes directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Placed:
    """One instant a wall time stands for; ``note`` explains a DST adjustment, else ``""``."""

    at: datetime
    note: str = ""

    @property
    def epoch(self) -> float:
        return self.at.timestamp()


def place(wall: datetime, zone: ZoneInfo, *, fixed: bool) -> list[Placed]:
    """The instants (0, 1 or 2, in order) at which a job set for naive ``wall`` fires."""
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return [Placed(early)]
    first = early.astimezone(UTC).astimezone(zone)
    if first.replace(tzinfo=None) == wall:
        # The wall time happens twice: the clocks went back.
        if fixed:
            return [Placed(first, f"clocks go back: once, at the first {wall:%H:%M}")]
        return [Placed(first), Placed(late.astimezone(UTC).astimezone(zone))]
    # The wall time never happens: the clocks went forward over it.
    if not fixed:
        return []
    jump = _transition(late.astimezone(UTC), early.astimezone(UTC), zone).astimezone(zone)
    return [Placed(jump, f"clocks go forward: {wall:%H:%M} skipped, fires at {jump:%H:%M}")]


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second at or after which ``zone`` uses the offset it has at ``after``."""
    target = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=high)
