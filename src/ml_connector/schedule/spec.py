"""The ``schedule`` table of a pipeline (or of a Sage 100 stream), validated with pydantic.

Rules add up: the base ``cron``, the ``close_window`` cron on its days and each ``extra`` rule
all contribute fire times, and two rules firing at the same instant fire once. A finance team
reads its schedule as "every business day at 06:30, and hourly during close", so the window
adds to the base schedule rather than replacing it.

Messages start with "expected" because ``ml_connector.config`` prints them as
``pipelines.<name>.schedule.<key>: expected …, got …``.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ml_connector.schedule.cron import validate_cron

# No month has more than 23 weekdays, so a larger N could never name a business day.
MAX_BUSINESS_DAY = 23


def _cron(value: str) -> str:
    return validate_cron(value)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone like America/Chicago") from None
    return value


def _business_day(value: int) -> int:
    if value == 0 or abs(value) > MAX_BUSINESS_DAY:
        raise ValueError(
            f"expected a business day from 1 to {MAX_BUSINESS_DAY} (counted from the start of the "
            f"month) or from -1 to -{MAX_BUSINESS_DAY} (from the end: -1 is the last business day)"
        )
    return value


CronExpr = Annotated[str, AfterValidator(_cron)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
BusinessDay = Annotated[int, AfterValidator(_business_day)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolidayCalendar(_Model):
    """Public holidays of one country (and optionally one state or province) from ``holidays``."""

    country: str = Field(description="ISO 3166 country code, e.g. US, GB, CA")
    subdivision: str | None = Field(None, description="state/province code, e.g. TX, ENG, ON")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(
                "expected a country code the holidays package knows (ISO 3166, e.g. US, GB, CA)"
            )
        return code

    @model_validator(mode="after")
    def _known_subdivision(self) -> HolidayCalendar:
        if self.subdivision is None:
            return self
        known: list[str] = holidays.list_supported_countries()[self.country]
        if self.subdivision not in known:
            sample = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            raise ValueError(
                f"expected a subdivision of {self.country}"
                + (f" ({sample})" if known else " (it has none)")
                + f", got {self.subdivision!r}"
            )
        return self


class CloseWindow(_Model):
    """Business days around each month end that get their own, denser schedule.

    ``start`` and ``end`` count business days relative to the month end: -1 is the last
    business day of the month, -2 the one before, +1 the first business day of the next month.
    There is no day 0. ``start = -2, end = 5`` covers seven business days.
    """

    start: int = Field(description="first day, e.g. -2 = second-to-last business day")
    end: int = Field(description="last day, e.g. 5 = fifth business day of the next month")
    cron: CronExpr
    only_business_days: bool = True
    label: str | None = Field(None, max_length=80)

    @field_validator("start", "end")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        return _business_day(value)

    @model_validator(mode="after")
    def _ordered(self) -> CloseWindow:
        if _window_ordinal(self.start) > _window_ordinal(self.end):
            raise ValueError(
                f"expected close_window.start before close_window.end in the order "
                f"… -2, -1, +1, +2 …, got start = {self.start}, end = {self.end}"
            )
        return self


def _window_ordinal(day: int) -> int:
    """Put -1 and +1 next to each other: the window has no day 0."""
    return day if day < 0 else day - 1


class BusinessDayRule(_Model):
    """Fire on business day N of each month (negative N counts from the month end)."""

    business_day: BusinessDay
    at: list[time] = Field(min_length=1, description='local time(s), e.g. "07:00"')
    label: str | None = Field(None, max_length=80)

    @field_validator("at", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str | time) else value

    @field_validator("at")
    @classmethod
    def _whole_minutes(cls, value: list[time]) -> list[time]:
        for moment in value:
            if moment.tzinfo is not None:
                raise ValueError("expected a local time like 07:00 (the schedule's time zone)")
            if moment.second or moment.microsecond:
                raise ValueError("expected a time in whole minutes like 07:00")
        return sorted(set(value))


class ScheduleSpec(_Model):
    """When a pipeline (or a Sage 100 stream) runs."""

    timezone: TimeZoneName | None = Field(
        None, description="IANA zone; default: the pipeline's, else the config's"
    )
    cron: CronExpr | None = None
    business_days_only: bool = False
    holidays: HolidayCalendar | None = None
    catch_up: Literal["coalesce", "skip"] = "coalesce"
    close_window: CloseWindow | None = None
    extra: list[BusinessDayRule] = []
    label: str | None = Field(None, max_length=80, description="reason shown for the base cron")

    @model_validator(mode="after")
    def _has_rules(self) -> ScheduleSpec:
        if self.cron is None and self.close_window is None and not self.extra:
            raise ValueError("expected at least one of cron, close_window or extra")
        if self.business_days_only and self.cron is None:
            raise ValueError("expected cron with business_days_only (it filters the base cron)")
        uses_business_days = self.business_days_only or self.close_window or self.extra
        if self.holidays is not None and not uses_business_days:
            raise ValueError(
                "expected business_days_only = true, a close_window or an extra rule with "
                "holidays (otherwise the holiday calendar is never used)"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The zone the rules are read in; UTC until ``with_default_timezone`` fills it in.

        ``ZoneInfo`` caches zones itself, so this costs a dictionary lookup.
        """
        return ZoneInfo(self.timezone or "UTC")

    def with_default_timezone(self, timezone: str | None) -> ScheduleSpec:
        """This spec, reading its rules in ``timezone`` unless it names its own zone."""
        if self.timezone is not None or timezone is None:
            return self
        return self.model_copy(update={"timezone": _timezone(timezone)})
