"""The close window: the business days around each month end that run on a denser schedule.

Days are named as close teams name them: ``BD-1`` is the last business day of the month,
``BD-2`` the one before, ``BD+1`` the first business day of the next month. A window of
``start = -2, end = 5`` around the end of October 2026 runs from BD-2 (Thu 29 Oct) to BD+5
(Fri 6 Nov). When the window also runs on weekends and holidays, those days are named after
the business day before them ("after BD-1").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ml_connector.schedule.calendar import BusinessCalendar, next_month, previous_month
from ml_connector.schedule.spec import CloseWindow

# Far enough to pass months too short for the window (a start of -23 needs 23 business days).
_MAX_SEARCH_MONTHS = 60


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """The window around the end of one month: ``first`` to ``last`` inclusive."""

    year: int
    month: int
    first: date
    last: date


def window_span(
    calendar: BusinessCalendar, window: CloseWindow, year: int, month: int
) -> WindowSpan | None:
    """The window around the end of ``year-month``; ``None`` if the month is too short for it."""
    first = _around_month_end(calendar, year, month, window.start)
    last = _around_month_end(calendar, year, month, window.end)
    if first is None or last is None:
        return None
    return WindowSpan(year, month, first, last)


def _around_month_end(calendar: BusinessCalendar, year: int, month: int, n: int) -> date | None:
    if n < 0:
        return calendar.business_day(year, month, n)
    return calendar.business_day(*next_month(year, month), n)


def window_label(calendar: BusinessCalendar, window: CloseWindow, day: date) -> str | None:
    """``BD-2`` … ``BD+5`` (or ``after BD-1``) if ``day`` is in a window, else ``None``."""
    for year, month in ((day.year, day.month), previous_month(day.year, day.month)):
        span = window_span(calendar, window, year, month)
        if span is None or not span.first <= day <= span.last:
            continue
        if calendar.is_business_day(day):
            return _business_day_label(calendar, span, day)
        if window.only_business_days:
            return None
        before = day - timedelta(days=1)
        while not calendar.is_business_day(before):
            before -= timedelta(days=1)
        return f"after {_business_day_label(calendar, span, before)}"
    return None


def _business_day_label(calendar: BusinessCalendar, span: WindowSpan, day: date) -> str:
    from_start, from_end = calendar.position(day)
    if (day.year, day.month) == (span.year, span.month):
        return f"BD{from_end}"
    return f"BD+{from_start}"


def next_window_day(calendar: BusinessCalendar, window: CloseWindow, day: date) -> date | None:
    """The first day on or after ``day`` on which the window's schedule applies.

    Windows of later months never start earlier, so the first window still open at ``day``
    holds the answer.
    """
    year, month = previous_month(day.year, day.month)
    for _ in range(_MAX_SEARCH_MONTHS):
        span = window_span(calendar, window, year, month)
        if span is not None and span.last >= day:
            candidate = max(span.first, day)
            if window.only_business_days:
                # span.last is a business day, so one is found before the window closes.
                return calendar.next_business_day(candidate)
            return candidate
        year, month = next_month(year, month)
    return None
