"""Which WHENMODIFIED window a run reads, and which records in it are new.

Intacct stamps WHENMODIFIED in the company's time zone with no zone on the wire (research §5),
so windows are naive company-local datetimes. A record may become visible a little after the
moment it is stamped with (the stamp is taken before the transaction commits), so each window
starts ``overlap`` before the previous one ended; the records of that overlap that were already
reported are recognised by their version key ``RECORDNO@WHENMODIFIED``, kept in the cursor.

Every function here is pure: the pipeline passes in the clock and the stored cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    """Inclusive bounds, naive company-local (the form Intacct compares WHENMODIFIED in)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window bounds are naive company-local datetimes")
        if self.start > self.end:
            raise ValueError(f"window starts ({self.start}) after it ends ({self.end})")

    def as_json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


@dataclass(frozen=True)
class StreamCursor:
    """How far one stream has been read completely, and the versions read near that point."""

    through: datetime
    seen: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {"through": self.through.isoformat(), "seen": sorted(self.seen)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> StreamCursor:
        through = datetime.fromisoformat(str(value["through"]))
        if through.tzinfo is not None:
            raise ValueError("a stored Intacct cursor must be naive company-local")
        return cls(through=through, seen=frozenset(str(k) for k in value.get("seen") or ()))


def version_key(recordno: int, whenmodified: datetime) -> str:
    """``123@2026-11-25T08:49:07``: one version of one record."""
    return f"{recordno}@{whenmodified.isoformat()}"


def to_company_time(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware moment as naive company-local time; a naive value is taken as already local."""
    if value.tzinfo is None:
        return value.replace(microsecond=0)
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


def plan_window(
    cursor: StreamCursor | None,
    *,
    now: datetime,
    overlap: timedelta,
    initial_lookback: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Window:
    """The window of one stream: explicit bounds win; otherwise from the cursor (less the
    overlap) or, on the first run, ``initial_lookback`` before ``until``/``now``."""
    end = until if until is not None else now
    if since is not None:
        start = since
    elif cursor is not None:
        start = cursor.through - overlap
    else:
        start = end - initial_lookback
    return Window(start=min(start, end), end=end)


def is_new(key: str, cursor: StreamCursor | None, *, explicit: bool) -> bool:
    """Whether a version still has to be reported: an explicit window reports everything in it
    (its messages are deduplicated by content instead); a scheduled one skips what it saw."""
    return explicit or cursor is None or key not in cursor.seen


def advance(
    cursor: StreamCursor | None,
    window: Window,
    versions: Iterable[tuple[str, datetime]],
    *,
    overlap: timedelta,
    explicit: bool,
) -> StreamCursor | None:
    """The cursor after reading ``window`` completely, or ``None`` to leave it as it was.

    An explicit window moves the cursor only forward and only when it joins on to what was
    already read (otherwise the gap before it would be skipped for ever). ``versions`` are all
    versions read in the window, new or not; those the next window will overlap are kept.
    """
    joins_on = cursor is None or window.start <= cursor.through < window.end
    if explicit and not joins_on:
        return None
    floor = window.end - overlap
    seen = {key for key, stamp in versions if stamp >= floor}
    if cursor is not None and floor < window.start:
        # A window shorter than the overlap (an explicit one) did not re-read the versions
        # between the next window's start and its own: keep those the old cursor saw, or the
        # next run would report them again.
        seen.update(key for key in cursor.seen if floor <= _stamp_of(key) < window.start)
    return StreamCursor(through=window.end, seen=frozenset(seen))


def _stamp_of(key: str) -> datetime:
    """The WHENMODIFIED a ``version_key`` carries."""
    return datetime.fromisoformat(key.rpartition("@")[2])
