"""Five-field cron expressions: validation, wall-clock iteration and a description for people.

Cron is evaluated on naive *wall-clock* times; mapping a wall time to an instant (and what to
do when daylight saving time skips or repeats it) is ``ml_connector.schedule.wallclock``'s job.
Which of the two DST behaviours applies depends on the expression, as in Vixie cron: a job
with a fixed minute and hour ("30 2 * * *") runs once per day whatever the clocks do, while a
job with ``*`` in its minute or hour field ("0 * * * *", "*/15 …") follows elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = "minute hour day-of-month month day-of-week"
# Enough for a 29 February rule to match across a skipped leap year (2096 → 2104).
_MAX_YEARS_BETWEEN_MATCHES = 9
_WEEKDAYS = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"]
_WEEKDAY_NAMES = {
    name: index for index, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
}
_WEEKDAYS_FIELD = {"1-5", "mon-fri"}
_MAX_LISTED_TIMES = 6


def validate_cron(value: str) -> str:
    """The expression in canonical five-field form, or ``ValueError`` saying what is wrong."""
    expr = " ".join(value.split())
    if expr.startswith("@"):
        if expr.lower() not in ALIASES:
            raise ValueError(
                f"expected a cron expression or one of {', '.join(ALIASES)}, got {value!r}"
            )
        return ALIASES[expr.lower()]
    fields = expr.split(" ")
    if len(fields) != 5:
        raise ValueError(
            f"expected a cron expression with 5 fields ({FIELDS}), got {len(fields)} in {value!r}"
        )
    try:
        matcher = croniter(
            expr,
            datetime(2000, 1, 1),
            max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES,
        )
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise ValueError(
            f"expected a valid cron expression ({FIELDS}), got {value!r}: {exc}"
        ) from None
    try:
        matcher.get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"expected a cron expression that matches some date, got {value!r}"
        ) from None
    return expr


def is_fixed_time(expr: str) -> bool:
    """Whether the job runs at set wall-clock times (Vixie cron's test: no ``*`` leading
    its minute or hour field); such jobs fire once a day across DST changes."""
    minute, hour = expr.split(" ")[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def wall_times(expr: str, day: date) -> Iterator[datetime]:
    """Naive wall-clock times matching ``expr``, in order, from 00:00 of ``day`` onward.

    Ends when no further match exists (a rule for 29 February still matches every leap year).
    """
    matcher = croniter(
        expr,
        datetime.combine(day, time.min) - timedelta(seconds=1),
        max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES,
    )
    while True:
        try:
            moment = matcher.get_next(datetime)
        except CroniterBadDateError:
            return
        yield moment


def describe_cron(expr: str, *, business_days_only: bool = False, with_days: bool = True) -> str:
    """A short English reading of the expression: "weekdays 06:30", "hourly", "every 15 minutes".

    ``with_days=False`` leaves out an unrestricted day part, for rules (the close window) that
    name their days themselves. Expressions outside the common shapes are quoted as they are.
    """
    minute, hour, dom, month, dow = expr.split(" ")
    times = _describe_times(minute, hour)
    days = _describe_days(dom, month, dow, business_days_only)
    if times is None or days is None:
        suffix = " on business days" if business_days_only else ""
        return f"cron {expr}{suffix}"
    periodic = not times[0].isdigit()
    if days == "daily" and (periodic or not with_days):
        return times
    if days == "business days" and not with_days:
        return times
    return f"{days} {times}"


def _describe_times(minute: str, hour: str) -> str | None:
    minutes = _numbers(minute)
    hours = _numbers(hour)
    if minutes is not None and hours is not None:
        listed = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
        if len(listed) <= _MAX_LISTED_TIMES:
            return ", ".join(listed)
        return None
    step = _step(minute)
    if hour == "*":
        if minute == "*":
            return "every minute"
        if step is not None:
            return f"every {step} minutes"
        if minutes is not None and len(minutes) == 1:
            return "hourly" if minutes[0] == 0 else f"hourly at :{minutes[0]:02d}"
        return None
    hour_step = _step(hour)
    if hour_step is not None and minutes is not None and len(minutes) == 1:
        at = "" if minutes[0] == 0 else f" at :{minutes[0]:02d}"
        return f"every {hour_step} hours{at}"
    stepped = _stepped_range(hour)
    if stepped is not None and minutes is not None and len(minutes) == 1:
        first, last, every = stepped
        last = first + (last - first) // every * every
        m = minutes[0]
        return f"every {every} hours {first:02d}:{m:02d}–{last:02d}:{m:02d}"
    span = _range(hour)
    if span is not None:
        first, last = span
        if minutes is not None and len(minutes) == 1:
            m = minutes[0]
            return f"hourly {first:02d}:{m:02d}–{last:02d}:{m:02d}"
        if step is not None:
            return f"every {step} minutes {first:02d}:00–{last:02d}:59"
    return None


def _describe_days(dom: str, month: str, dow: str, business_days_only: bool) -> str | None:
    if month != "*":
        return None
    if dom == "*" and (dow == "*" or dow.lower() in _WEEKDAYS_FIELD):
        if business_days_only:
            return "business days"
        return "daily" if dow == "*" else "weekdays"
    qualifier = " (business days only)" if business_days_only else ""
    if dom == "*":
        weekday = _weekday(dow)
        return None if weekday is None else f"{_WEEKDAYS[weekday]}{qualifier}"
    if dow == "*":
        if dom.upper() == "L":
            return f"last day of the month{qualifier}"
        days = _numbers(dom)
        if days is not None and len(days) == 1:
            return f"day {days[0]} of the month{qualifier}"
    return None


def _numbers(field: str) -> list[int] | None:
    parts = field.split(",")
    if all(part.isdigit() for part in parts):
        return sorted({int(part) for part in parts})
    return None


def _step(field: str) -> int | None:
    base, _, step = field.partition("/")
    if base in ("*", "0") and step.isdigit():
        return int(step)
    return None


def _range(field: str) -> tuple[int, int] | None:
    first, _, last = field.partition("-")
    if first.isdigit() and last.isdigit():
        return int(first), int(last)
    return None


def _stepped_range(field: str) -> tuple[int, int, int] | None:
    span, _, step = field.partition("/")
    bounds = _range(span)
    if bounds is None or not step.isdigit() or int(step) == 0:
        return None
    return bounds[0], bounds[1], int(step)


def _weekday(field: str) -> int | None:
    if field.isdigit():
        return int(field) % 7
    return _WEEKDAY_NAMES.get(field.lower())
