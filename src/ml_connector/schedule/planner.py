"""Fire times of a schedule, each with the reason a person would give for it.

Pure: no clock, no database. Every rule yields its fire times in order; the streams are merged
and a moment two rules share fires once, with both reasons. Rules are evaluated day by day in
the schedule's zone and jump straight to their next possible day, so a rule that fires once
a year costs a handful of steps, not a day-by-day scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from ml_connector.schedule.calendar import BusinessCalendar, business_calendar, next_month
from ml_connector.schedule.close_window import next_window_day, window_label
from ml_connector.schedule.cron import describe_cron, is_fixed_time, wall_times
from ml_connector.schedule.spec import BusinessDayRule, CloseWindow, ScheduleSpec
from ml_connector.schedule.wallclock import Placed, place

# How far ahead next_fire_times looks before deciding a schedule never fires again: past the
# next 29 February even across a skipped leap year (2096 → 2104).
DEFAULT_HORIZON = timedelta(days=9 * 366)

_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


@dataclass(frozen=True, slots=True)
class Fire:
    """One moment the schedule fires: ``at`` is aware, in the schedule's zone."""

    at: datetime
    reason: str

    @property
    def epoch(self) -> float:
        """UTC epoch seconds: the order of fires and the key of their slot in the database."""
        return self.at.timestamp()


def next_fire_times(
    spec: ScheduleSpec, after: datetime, count: int, *, horizon: timedelta = DEFAULT_HORIZON
) -> list[Fire]:
    """The next ``count`` fire times strictly after ``after`` (fewer if none within horizon)."""
    _require_aware(after)
    return list(islice(_fires(spec, after, after + horizon), count))


def fires_between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Fire]:
    """Every fire time in ``(start, end]``: a slot at ``start`` was someone else's turn."""
    _require_aware(start)
    _require_aware(end)
    return list(_fires(spec, start, end))


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: give a time zone")


def _fires(spec: ScheduleSpec, after: datetime, until: datetime) -> Iterator[Fire]:
    zone = spec.zone
    first_day = after.astimezone(zone).date()
    last_day = until.astimezone(zone).date()
    calendar = business_calendar(spec.holidays)
    streams: list[Iterable[Fire]] = []
    if spec.cron is not None:
        streams.append(
            _cron_stream(
                spec.cron,
                zone,
                first_day,
                last_day,
                calendar.next_business_day if spec.business_days_only else _any_day,
                _constant(
                    spec.label
                    or describe_cron(spec.cron, business_days_only=spec.business_days_only)
                ),
            )
        )
    if spec.close_window is not None:
        streams.append(_window_stream(spec.close_window, calendar, zone, first_day, last_day))
    streams.extend(
        _business_day_stream(rule, calendar, zone, first_day, last_day) for rule in spec.extra
    )
    after_epoch, until_epoch = after.timestamp(), until.timestamp()
    pending: Fire | None = None
    for fire in heapq.merge(*streams, key=lambda f: f.epoch):
        epoch = fire.epoch
        if epoch <= after_epoch:
            continue
        if epoch > until_epoch:
            break
        if pending is not None and epoch <= pending.epoch:
            # The same instant from another rule (or a DST jump that two wall times map to).
            if fire.reason not in pending.reason.split("; "):
                pending = Fire(pending.at, f"{pending.reason}; {fire.reason}")
            continue
        if pending is not None:
            yield pending
        pending = fire
    if pending is not None:
        yield pending


def _any_day(day: date) -> date:
    return day


def _constant(reason: str) -> Callable[[date], str]:
    return lambda _day: reason


def _cron_stream(
    expr: str,
    zone: ZoneInfo,
    first_day: date,
    last_day: date,
    allowed_from: Callable[[date], date | None],
    reason: Callable[[date], str],
) -> Iterator[Fire]:
    """Fires of ``expr`` on the days ``allowed_from`` admits (it returns the next such day)."""
    fixed = is_fixed_time(expr)
    day = allowed_from(first_day)
    while day is not None and day <= last_day:
        walls: list[datetime] = []
        following: date | None = None
        for wall in wall_times(expr, day):
            if wall.date() != day:
                following = wall.date()
                break
            walls.append(wall)
        if walls:
            yield from _placed_fires(
                (p for wall in walls for p in place(wall, zone, fixed=fixed)), reason(day)
            )
        if following is None:
            return
        day = allowed_from(following)


def _window_stream(
    window: CloseWindow, calendar: BusinessCalendar, zone: ZoneInfo, first_day: date, last_day: date
) -> Iterator[Fire]:
    name = window.label or "close window"
    cadence = describe_cron(window.cron, with_days=False)

    def reason(day: date) -> str:
        return f"{name} ({window_label(calendar, window, day)}) {cadence}"

    return _cron_stream(
        window.cron,
        zone,
        first_day,
        last_day,
        lambda day: next_window_day(calendar, window, day),
        reason,
    )


def _business_day_stream(
    rule: BusinessDayRule,
    calendar: BusinessCalendar,
    zone: ZoneInfo,
    first_day: date,
    last_day: date,
) -> Iterator[Fire]:
    year, month = first_day.year, first_day.month
    while date(year, month, 1) <= last_day:
        day = calendar.business_day(year, month, rule.business_day)
        if day is not None and first_day <= day <= last_day:
            reason = rule.label or business_day_reason(rule.business_day, day)
            walls = (datetime.combine(day, moment) for moment in rule.at)
            yield from _placed_fires(
                (p for wall in walls for p in place(wall, zone, fixed=True)), reason
            )
        year, month = next_month(year, month)


def _placed_fires(placed: Iterable[Placed], reason: str) -> Iterator[Fire]:
    for item in sorted(placed, key=lambda p: p.epoch):
        yield Fire(item.at, f"{reason} ({item.note})" if item.note else reason)


def business_day_reason(n: int, day: date) -> str:
    """ "business day 3 of November 2026", "last business day of November 2026"."""
    month = f"{day:%B %Y}"
    if n > 0:
        return f"business day {n} of {month}"
    if n == -1:
        return f"last business day of {month}"
    return f"{_ordinal(-n)}-to-last business day of {month}"


def _ordinal(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}{_SUFFIXES.get(n % 10, 'th')}"
