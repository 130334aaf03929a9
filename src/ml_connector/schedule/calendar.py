"""Business days: not a weekend day and not a public holiday of the configured country.

The weekend comes from the ``holidays`` package too (Friday–Saturday in Israel, for example),
so "business day" means what it means where the finance team sits. Observed holidays count:
when Christmas falls on a Saturday, the Friday before is not a business day in the US.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

from ml_connector.schedule.spec import HolidayCalendar

SATURDAY_SUNDAY = frozenset({5, 6})
# A year without a business day cannot be configured; stop looking well before that.
_MAX_SEARCH_DAYS = 366


class BusinessCalendar:
    """Which dates are business days, and business day N of a month."""

    def __init__(self, spec: HolidayCalendar | None = None) -> None:
        self._holidays: holidays.HolidayBase | None = None
        self.weekend: frozenset[int] = SATURDAY_SUNDAY
        if spec is not None:
            self._holidays = holidays.country_holidays(spec.country, subdiv=spec.subdivision)
            self.weekend = frozenset(self._holidays.weekend) or SATURDAY_SUNDAY
        self._months: dict[tuple[int, int], tuple[date, ...]] = {}

    def holiday(self, day: date) -> str | None:
        """The holiday's name, if ``day`` is one."""
        if self._holidays is None:
            return None
        name: str | None = self._holidays.get(day)
        return name

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and self.holiday(day) is None

    def business_days(self, year: int, month: int) -> tuple[date, ...]:
        """Every business day of the month, in order."""
        key = (year, month)
        days = self._months.get(key)
        if days is None:
            length = calendar.monthrange(year, month)[1]
            every = (date(year, month, d) for d in range(1, length + 1))
            days = tuple(day for day in every if self.is_business_day(day))
            self._months[key] = days
        return days

    def business_day(self, year: int, month: int, n: int) -> date | None:
        """Business day ``n`` of the month (``-1`` = the last); ``None`` if the month is short."""
        days = self.business_days(year, month)
        index = n - 1 if n > 0 else n
        if -len(days) <= index < len(days):
            return days[index]
        return None

    def position(self, day: date) -> tuple[int, int]:
        """``(n, -m)``: ``day`` is business day n of its month and the m-th from its end."""
        days = self.business_days(day.year, day.month)
        index = days.index(day)
        return index + 1, index - len(days)

    def next_business_day(self, day: date) -> date | None:
        """The first business day on or after ``day``."""
        for offset in range(_MAX_SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        return None


@lru_cache(maxsize=64)
def business_calendar(spec: HolidayCalendar | None) -> BusinessCalendar:
    """One shared calendar per holiday configuration, so its month tables are built once."""
    return BusinessCalendar(spec)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)
