"""Wall-clock time as UTC epoch seconds, the one time format stored by ml-connector.

Storing floats keeps leases, pacing and slots comparable on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def from_datetime(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    return value.timestamp()
