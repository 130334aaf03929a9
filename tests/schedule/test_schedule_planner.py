"""Fire times and reasons, checked against calendars and clock changes written out by hand.

Daylight saving dates used here: New York springs forward on Sun 8 Mar 2026 (02:00 → 03:00)
and falls back on Sun 1 Nov 2026 (02:00 → 01:00); London on Sun 29 Mar 2026 (01:00 → 02:00)
and Sun 25 Oct 2026 (02:00 → 01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from ml_connector.schedule import Fire, ScheduleSpec, fires_between, next_fire_times
from ml_connector.schedule.preview import preview_table, until

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
CHICAGO = ZoneInfo("America/Chicago")


def spec(**fields: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(fields)


def utc(fires: list[Fire]) -> list[str]:
    return [f"{f.at.astimezone(UTC):%Y-%m-%d %H:%M}" for f in fires]


def local(fires: list[Fire]) -> list[str]:
    return [f"{f.at:%a %d %b %H:%M %Z}" for f in fires]


def test_spring_forward_fixed_job_fires_once_when_the_clocks_jump() -> None:
    daily = spec(timezone="America/New_York", cron="30 2 * * *")
    fires = next_fire_times(daily, datetime(2026, 3, 6, 12, tzinfo=NEW_YORK), 3)
    assert local(fires) == ["Sat 07 Mar 02:30 EST", "Sun 08 Mar 03:00 EDT", "Mon 09 Mar 02:30 EDT"]
    assert utc(fires) == ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"]
    assert fires[1].reason == "daily 02:30 (clocks go forward: 02:30 skipped, fires at 03:00)"
    assert fires[0].reason == "daily 02:30"


def test_fall_back_fixed_job_fires_once_not_twice() -> None:
    daily = spec(timezone="America/New_York", cron="30 1 * * *")
    fires = next_fire_times(daily, datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 2)
    assert utc(fires) == ["2026-11-01 05:30", "2026-11-02 06:30"]
    assert local(fires) == ["Sun 01 Nov 01:30 EDT", "Mon 02 Nov 01:30 EST"]
    assert fires[0].reason == "daily 01:30 (clocks go back: once, at the first 01:30)"


def test_hourly_job_follows_elapsed_time_across_both_changes() -> None:
    hourly = spec(timezone="America/New_York", cron="0 * * * *")
    spring = next_fire_times(hourly, datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK), 3)
    assert local(spring) == ["Sun 08 Mar 01:00 EST", "Sun 08 Mar 03:00 EDT", "Sun 08 Mar 04:00 EDT"]
    assert utc(spring) == ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00"]
    fall = next_fire_times(hourly, datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK), 3)
    assert utc(fall) == ["2026-11-01 05:00", "2026-11-01 06:00", "2026-11-01 07:00"]
    assert local(fall) == ["Sun 01 Nov 01:00 EDT", "Sun 01 Nov 01:00 EST", "Sun 01 Nov 02:00 EST"]


def test_quarter_hourly_job_has_no_burst_after_spring_forward() -> None:
    every15 = spec(timezone="America/New_York", cron="*/15 * * * *")
    start = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    fires = fires_between(every15, start, start + timedelta(hours=1))
    gaps = {b.epoch - a.epoch for a, b in pairwise(fires)}
    assert gaps == {900.0}
    assert local(fires)[:3] == [
        "Sun 08 Mar 01:45 EST",
        "Sun 08 Mar 03:00 EDT",
        "Sun 08 Mar 03:15 EDT",
    ]


def test_london_changes() -> None:
    daily = spec(timezone="Europe/London", cron="30 1 * * *")
    spring = next_fire_times(daily, datetime(2026, 3, 28, 12, tzinfo=LONDON), 2)
    assert local(spring) == ["Sun 29 Mar 02:00 BST", "Mon 30 Mar 01:30 BST"]
    assert utc(spring) == ["2026-03-29 01:00", "2026-03-30 00:30"]
    autumn = next_fire_times(daily, datetime(2026, 10, 24, 12, tzinfo=LONDON), 2)
    assert local(autumn) == ["Sun 25 Oct 01:30 BST", "Mon 26 Oct 01:30 GMT"]
    hourly = spec(timezone="Europe/London", cron="0 * * * *")
    repeated = next_fire_times(hourly, datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 3)
    assert local(repeated) == [
        "Sun 25 Oct 01:00 BST",
        "Sun 25 Oct 01:00 GMT",
        "Sun 25 Oct 02:00 GMT",
    ]


def test_business_days_skip_thanksgiving_and_christmas() -> None:
    weekday_mornings = spec(
        timezone="America/Chicago",
        cron="30 6 * * *",
        business_days_only=True,
        holidays={"country": "US"},
    )
    thanksgiving = next_fire_times(weekday_mornings, datetime(2026, 11, 24, tzinfo=CHICAGO), 4)
    assert local(thanksgiving) == [
        "Tue 24 Nov 06:30 CST",
        "Wed 25 Nov 06:30 CST",
        "Fri 27 Nov 06:30 CST",
        "Mon 30 Nov 06:30 CST",
    ]
    assert {f.reason for f in thanksgiving} == {"business days 06:30"}
    christmas = next_fire_times(weekday_mornings, datetime(2026, 12, 23, tzinfo=CHICAGO), 3)
    assert local(christmas) == [
        "Wed 23 Dec 06:30 CST",
        "Thu 24 Dec 06:30 CST",
        "Mon 28 Dec 06:30 CST",
    ]
    texas = spec(
        timezone="America/Chicago",
        cron="30 6 * * *",
        business_days_only=True,
        holidays={"country": "US", "subdivision": "TX"},
    )
    assert local(next_fire_times(texas, datetime(2026, 11, 25, 12, tzinfo=CHICAGO), 1)) == [
        "Mon 30 Nov 06:30 CST"
    ]


def test_uk_bank_holiday_in_preview() -> None:
    mornings = spec(
        timezone="Europe/London",
        cron="0 7 * * 1-5",
        business_days_only=True,
        holidays={"country": "GB", "subdivision": "ENG"},
    )
    fires = next_fire_times(mornings, datetime(2026, 8, 27, tzinfo=LONDON), 3)
    assert local(fires) == ["Thu 27 Aug 07:00 BST", "Fri 28 Aug 07:00 BST", "Tue 01 Sep 07:00 BST"]


def test_business_day_n_and_last_business_day() -> None:
    rules = spec(
        timezone="America/Chicago",
        holidays={"country": "US"},
        extra=[
            {"business_day": 3, "at": "07:00"},
            {"business_day": -1, "at": ["16:00", "08:00"]},
            {"business_day": -2, "at": "09:00"},
        ],
    )
    fires = fires_between(
        rules, datetime(2026, 11, 1, tzinfo=CHICAGO), datetime(2027, 1, 31, tzinfo=CHICAGO)
    )
    assert [(f"{f.at:%a %d %b %Y %H:%M}", f.reason) for f in fires] == [
        ("Wed 04 Nov 2026 07:00", "business day 3 of November 2026"),
        ("Fri 27 Nov 2026 09:00", "2nd-to-last business day of November 2026"),
        ("Mon 30 Nov 2026 08:00", "last business day of November 2026"),
        ("Mon 30 Nov 2026 16:00", "last business day of November 2026"),
        ("Thu 03 Dec 2026 07:00", "business day 3 of December 2026"),
        ("Wed 30 Dec 2026 09:00", "2nd-to-last business day of December 2026"),
        ("Thu 31 Dec 2026 08:00", "last business day of December 2026"),
        ("Thu 31 Dec 2026 16:00", "last business day of December 2026"),
        ("Wed 06 Jan 2027 07:00", "business day 3 of January 2027"),
        ("Thu 28 Jan 2027 09:00", "2nd-to-last business day of January 2027"),
        ("Fri 29 Jan 2027 08:00", "last business day of January 2027"),
        ("Fri 29 Jan 2027 16:00", "last business day of January 2027"),
    ]


def test_close_window_adds_its_denser_schedule() -> None:
    close = spec(
        timezone="America/Chicago",
        cron="30 6 * * *",
        business_days_only=True,
        holidays={"country": "US"},
        close_window={"start": -2, "end": 5, "cron": "0 9-17/4 * * *"},
        extra=[{"business_day": 3, "at": "09:00", "label": "AP aging"}],
    )
    fires = fires_between(
        close, datetime(2026, 11, 25, tzinfo=CHICAGO), datetime(2026, 12, 9, tzinfo=CHICAGO)
    )
    window_days = {f"{f.at:%a %d %b}" for f in fires if "close window" in f.reason}
    assert window_days == {
        *("Fri 27 Nov", "Mon 30 Nov"),  # BD-2, BD-1
        *("Tue 01 Dec", "Wed 02 Dec", "Thu 03 Dec", "Fri 04 Dec", "Mon 07 Dec"),  # BD+1 … BD+5
    }
    on_bd3 = [(f"{f.at:%H:%M}", f.reason) for f in fires if f.at.day == 3]
    assert on_bd3 == [
        ("06:30", "business days 06:30"),
        ("09:00", "close window (BD+3) every 4 hours 09:00–17:00; AP aging"),
        ("13:00", "close window (BD+3) every 4 hours 09:00–17:00"),
        ("17:00", "close window (BD+3) every 4 hours 09:00–17:00"),
    ]
    # Outside the window only the base schedule runs; Thanksgiving and weekends not at all.
    assert local([f for f in fires if f.at.day in (25, 26, 8)]) == [
        "Wed 25 Nov 06:30 CST",
        "Tue 08 Dec 06:30 CST",
    ]


def test_close_window_hourly_reason_and_weekend_days() -> None:
    close = spec(
        timezone="America/New_York",
        close_window={
            "start": -1,
            "end": 1,
            "cron": "0 12 * * *",
            "only_business_days": False,
            "label": "October close",
        },
    )
    fires = next_fire_times(close, datetime(2026, 10, 29, tzinfo=NEW_YORK), 4)
    assert [(f"{f.at:%a %d %b}", f.reason) for f in fires] == [
        ("Fri 30 Oct", "October close (BD-1) 12:00"),
        ("Sat 31 Oct", "October close (after BD-1) 12:00"),
        ("Sun 01 Nov", "October close (after BD-1) 12:00"),
        ("Mon 02 Nov", "October close (BD+1) 12:00"),
    ]


def test_fires_between_is_half_open_and_next_is_strictly_after() -> None:
    daily = spec(timezone="UTC", cron="0 6 * * *")
    at_six = datetime(2026, 5, 1, 6, tzinfo=UTC)
    assert utc(next_fire_times(daily, at_six, 1)) == ["2026-05-02 06:00"]
    between = fires_between(daily, at_six, at_six + timedelta(days=1))
    assert utc(between) == ["2026-05-02 06:00"]
    with pytest.raises(ValueError, match="naive"):
        next_fire_times(daily, datetime(2026, 5, 1), 1)


def test_a_schedule_that_never_fires_again_gives_fewer() -> None:
    christmas_on_business_days = spec(
        cron="0 9 25 12 *", business_days_only=True, holidays={"country": "US"}
    )
    assert next_fire_times(christmas_on_business_days, datetime(2026, 1, 1, tzinfo=UTC), 3) == []
    leap = spec(cron="0 0 29 2 *")
    assert utc(next_fire_times(leap, datetime(2026, 1, 1, tzinfo=UTC), 2)) == [
        "2028-02-29 00:00",
        "2032-02-29 00:00",
    ]


def test_preview_table_shows_zone_utc_and_reason() -> None:
    daily = spec(timezone="America/New_York", cron="30 2 * * *")
    now = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)
    console = Console(record=True, width=200)
    console.print(preview_table("intacct", next_fire_times(daily, now, 2), now))
    text = console.export_text()
    assert "Sun 2026-03-08 03:00 EDT" in text
    assert "2026-03-08 07:00" in text
    assert "clocks go forward: 02:30 skipped, fires at 03:00" in text
    assert until(15 * 3600 + 120) == "15 h 2 min"
    assert until(3 * 86400 + 3600) == "3 d 1 h"
    assert until(59) == "< 1 min"
    assert until(61) == "1 min"
