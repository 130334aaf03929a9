"""Dates and times shown in the pipeline's time zone, with the zone named.

A GL posting at 23:30 in Chicago is the next day in UTC; the close team reads local dates, so
every timestamp is converted and labelled, never shown bare.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def to_zone(value: datetime | float, zone: ZoneInfo) -> datetime:
    """An aware datetime (or UTC epoch seconds) in ``zone``; naive datetimes are refused."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a time zone so it can be shown correctly")
        return value.astimezone(zone)
    return datetime.fromtimestamp(value, tz=UTC).astimezone(zone)


def format_datetime(value: datetime | float, zone: ZoneInfo) -> str:
    """``2026-11-25 06:30 CST``: ISO order (no month/day confusion) and the zone's name."""
    local = to_zone(value, zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone.key}"


def format_date(value: date | datetime | float, zone: ZoneInfo) -> str:
    """``2026-11-25``; a moment in time is first moved into ``zone``."""
    if isinstance(value, datetime) or not isinstance(value, date):
        value = to_zone(value, zone).date()
    return value.isoformat()
