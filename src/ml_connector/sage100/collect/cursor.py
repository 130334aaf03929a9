"""Where a stream stands in Sage 100: the last ``(stamp, record_key)`` it has handled.

Sage 100 stamps are local wall-clock times with one-second resolution, and a record can be
committed with a stamp a little older than one already read (a long BOI write, a clock
step). So each read starts ``overlap`` before the cursor, and whatever that window returns
again is recognised and dropped: by the stored fingerprint for records that can change, and
for GL posting lines (which never change) by the ``seen`` keys the cursor keeps for exactly
that window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ml_connector.sage100.collect.records import format_stamp, parse_stamp


@dataclass(frozen=True, order=True)
class Position:
    """A point in the agent's ``(stamp, record_key)`` order."""

    stamp: str
    record_key: str


def shift(stamp: str, minutes: float) -> str:
    """``stamp`` moved by ``minutes`` (negative: earlier), in the agent's stamp format."""
    return format_stamp(parse_stamp(stamp) + timedelta(minutes=minutes))


@dataclass(frozen=True)
class StreamCursor:
    position: Position
    # GL posting lines already posted whose stamp lies within the overlap of ``position``.
    seen: Mapping[str, str] = field(default_factory=dict)

    def window_start(self, overlap_minutes: float) -> str:
        return shift(self.position.stamp, -overlap_minutes)

    def advance(
        self, handled: Iterable[Position], overlap_minutes: float, *, remember: bool = False
    ) -> StreamCursor:
        """The cursor after ``handled`` were posted (or deliberately skipped).

        Never moves back: a re-read of an older window (``run --since``) leaves it where it
        was. With ``remember``, keys handled within the new overlap window are kept in
        ``seen`` (with those already there), so the next read can drop them.
        """
        items = list(handled)
        position = max([self.position, *items])
        if not remember:
            return StreamCursor(position)
        horizon = shift(position.stamp, -overlap_minutes)
        seen = {k: s for k, s in self.seen.items() if s >= horizon}
        seen.update({p.record_key: p.stamp for p in items if p.stamp >= horizon})
        return StreamCursor(position, seen)

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "stamp": self.position.stamp,
            "record_key": self.position.record_key,
        }
        if self.seen:
            value["seen"] = dict(sorted(self.seen.items()))
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> StreamCursor:
        stamp = format_stamp(parse_stamp(str(value["stamp"])))
        seen = value.get("seen") or {}
        if not isinstance(seen, Mapping):
            raise ValueError("cursor 'seen' must be an object of record key → stamp")
        return cls(
            Position(stamp, str(value.get("record_key") or "")),
            {str(k): str(v) for k, v in seen.items()},
        )

    @classmethod
    def starting_at(cls, stamp: str) -> StreamCursor:
        """A stream's first cursor: nothing handled yet, reads begin near ``stamp``."""
        return cls(Position(format_stamp(parse_stamp(stamp)), ""))
