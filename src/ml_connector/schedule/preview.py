"""The ``schedule preview`` table: coming fire times, local and UTC, with their reasons.

Local times carry the zone's abbreviation because across a DST change the same wall time can
mean two instants; the UTC column removes any doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.table import Table

from ml_connector.schedule.planner import Fire


def preview_table(title: str, fires: Sequence[Fire], now: datetime) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("local time")
    table.add_column("in", justify="right")
    table.add_column("UTC", style="dim")
    table.add_column("reason")
    for number, fire in enumerate(fires, start=1):
        table.add_row(
            str(number),
            f"{fire.at:%a %Y-%m-%d %H:%M %Z}",
            until(fire.epoch - now.timestamp()),
            f"{fire.at.astimezone(UTC):%Y-%m-%d %H:%M}",
            fire.reason,
        )
    return table


def until(seconds: float) -> str:
    """ "45 min", "5 h 30 min", "3 d 4 h": how far ahead, to the minute."""
    minutes = int(timedelta(seconds=max(seconds, 0)) // timedelta(minutes=1))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "< 1 min"
