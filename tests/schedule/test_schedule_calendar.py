"""Business days, business day N and the close window, against calendars written out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from ml_connector.schedule.calendar import BusinessCalendar
from ml_connector.schedule.close_window import next_window_day, window_label, window_span
from ml_connector.schedule.spec import CloseWindow, HolidayCalendar

US = BusinessCalendar(HolidayCalendar(country="US"))
TEXAS = BusinessCalendar(HolidayCalendar(country="US", subdivision="TX"))
ENGLAND = BusinessCalendar(HolidayCalendar(country="GB", subdivision="ENG"))
WEEKENDS_ONLY = BusinessCalendar()
CLOSE = CloseWindow(start=-2, end=5, cron="0 * * * *")


def test_us_holidays_are_not_business_days() -> None:
    assert US.holiday(date(2026, 11, 26)) == "Thanksgiving Day"
    assert not US.is_business_day(date(2026, 11, 26))
    assert not US.is_business_day(date(2026, 12, 25))  # Christmas, a Friday
    assert US.is_business_day(date(2026, 11, 27))  # day after Thanksgiving: federal workday
    assert not TEXAS.is_business_day(date(2026, 11, 27))  # … but a Texas state holiday
    assert not US.is_business_day(date(2026, 11, 28))  # Saturday
    assert WEEKENDS_ONLY.is_business_day(date(2026, 11, 26))


def test_observed_holiday_counts() -> None:
    # Christmas 2027 is a Saturday; the Friday before is the observed federal holiday.
    assert not US.is_business_day(date(2027, 12, 24))


def test_uk_bank_holiday() -> None:
    assert not ENGLAND.is_business_day(date(2026, 8, 31))  # Late Summer Bank Holiday
    assert ENGLAND.business_day(2026, 8, -1) == date(2026, 8, 28)
    assert WEEKENDS_ONLY.business_day(2026, 8, -1) == date(2026, 8, 31)


def test_weekend_follows_the_country() -> None:
    israel = BusinessCalendar(HolidayCalendar(country="IL"))
    assert israel.weekend == frozenset({4, 5})  # Friday and Saturday
    assert israel.is_business_day(date(2026, 6, 7))  # a Sunday


@pytest.mark.parametrize(
    ("year", "month", "n", "expected"),
    [
        (2026, 11, 1, date(2026, 11, 2)),  # Sun 1 Nov → Mon 2 Nov
        (2026, 11, 3, date(2026, 11, 4)),
        (2026, 11, -1, date(2026, 11, 30)),  # last business day: Mon 30 Nov
        (2026, 11, -2, date(2026, 11, 27)),
        (2026, 12, 3, date(2026, 12, 3)),
        (2026, 12, -1, date(2026, 12, 31)),  # Thu 31 Dec; Christmas is Fri 25 Dec
        (2026, 12, -5, date(2026, 12, 24)),  # 31, 30, 29, 28, then 24 (25 is Christmas)
        (2027, 1, 1, date(2027, 1, 4)),  # New Year's Day is a Friday
        (2027, 1, -1, date(2027, 1, 29)),
        (2026, 2, 20, None),  # February 2026 has 19 US business days
    ],
)
def test_business_day_n(year: int, month: int, n: int, expected: date | None) -> None:
    assert US.business_day(year, month, n) == expected


def test_texas_shifts_the_november_close() -> None:
    assert TEXAS.business_day(2026, 11, -2) == date(2026, 11, 25)


def test_close_window_spans() -> None:
    october = window_span(US, CLOSE, 2026, 10)
    assert october is not None
    assert (october.first, october.last) == (date(2026, 10, 29), date(2026, 11, 6))
    november = window_span(US, CLOSE, 2026, 11)
    assert november is not None
    assert (november.first, november.last) == (date(2026, 11, 27), date(2026, 12, 7))
    december = window_span(US, CLOSE, 2026, 12)
    assert december is not None
    assert (december.first, december.last) == (date(2026, 12, 30), date(2027, 1, 8))


def test_close_window_labels() -> None:
    labels = {day: window_label(US, CLOSE, date(2026, 11, day)) for day in (25, 26, 27, 28, 29, 30)}
    assert labels == {25: None, 26: None, 27: "BD-2", 28: None, 29: None, 30: "BD-1"}
    assert window_label(US, CLOSE, date(2026, 12, 1)) == "BD+1"
    assert window_label(US, CLOSE, date(2026, 12, 7)) == "BD+5"
    assert window_label(US, CLOSE, date(2026, 12, 8)) is None
    every_day = CLOSE.model_copy(update={"only_business_days": False})
    assert window_label(US, every_day, date(2026, 11, 28)) == "after BD-2"
    assert window_label(US, every_day, date(2026, 12, 5)) == "after BD+4"


def test_next_window_day_jumps_to_the_next_window() -> None:
    assert next_window_day(US, CLOSE, date(2026, 11, 10)) == date(2026, 11, 27)
    assert next_window_day(US, CLOSE, date(2026, 11, 28)) == date(2026, 11, 30)
    assert next_window_day(US, CLOSE, date(2026, 12, 3)) == date(2026, 12, 3)
    assert next_window_day(US, CLOSE, date(2026, 12, 8)) == date(2026, 12, 30)
    # Across the New Year holiday: BD+1 of January 2027 is Monday 4 January.
    assert next_window_day(US, CLOSE, date(2026, 12, 31)) == date(2026, 12, 31)
    assert next_window_day(US, CLOSE, date(2027, 1, 1)) == date(2027, 1, 4)


def test_window_entirely_after_month_end() -> None:
    opening = CloseWindow(start=2, end=3, cron="0 9 * * *")
    span = window_span(US, opening, 2026, 11)
    assert span is not None and (span.first, span.last) == (date(2026, 12, 2), date(2026, 12, 3))
    assert window_label(US, opening, date(2026, 12, 2)) == "BD+2"
