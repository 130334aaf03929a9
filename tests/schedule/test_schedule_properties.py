"""Properties of every schedule: fire times increase, lie ahead, and respect business days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.schedule import ScheduleSpec, fires_between, next_fire_times
from ml_connector.schedule.calendar import business_calendar

ZONES = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
]
HOLIDAYS = [
    None,
    {"country": "US"},
    {"country": "US", "subdivision": "TX"},
    {"country": "GB", "subdivision": "ENG"},
    {"country": "IL"},
]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    single = st.integers(low, high).map(str)
    listed = st.lists(st.integers(low, high), min_size=2, max_size=3, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    step = st.integers(2, max(2, (high - low) // 2)).map(lambda n: f"*/{n}")
    return st.one_of(single, listed, step, st.just("*"))


crons = st.builds(
    lambda m, h, dom, dow: f"{m} {h} {dom} * {dow}",
    _field(0, 59),
    _field(0, 23),
    st.sampled_from(["*", "*", "1", "15", "L", "1-7"]),
    st.sampled_from(["*", "*", "1-5", "0", "6", "MON-FRI"]),
)
window_days = st.sampled_from([-5, -3, -2, -1, 1, 2, 3, 5])


@st.composite
def specs(draw: st.DrawFn) -> ScheduleSpec:
    data: dict[str, Any] = {
        "timezone": draw(st.sampled_from(ZONES)),
        "holidays": draw(st.sampled_from(HOLIDAYS)),
    }
    if draw(st.booleans()):
        data["cron"] = draw(crons)
        data["business_days_only"] = draw(st.booleans())
    if draw(st.booleans()):
        start, end = sorted(
            draw(st.lists(window_days, min_size=2, max_size=2)), key=lambda d: d if d < 0 else d - 1
        )
        data["close_window"] = {
            "start": start,
            "end": end,
            "cron": draw(crons),
            "only_business_days": draw(st.booleans()),
        }
    rules = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "business_day": st.integers(1, 23) | st.integers(-23, -1),
                    "at": st.times().map(lambda t: t.replace(second=0, microsecond=0, tzinfo=None)),
                }
            ),
            max_size=2,
        )
    )
    data["extra"] = rules
    if "cron" not in data and "close_window" not in data and not rules:
        data["cron"] = draw(crons)
    if data["holidays"] is not None and not (
        data.get("business_days_only") or "close_window" in data or rules
    ):
        data["holidays"] = None
    return ScheduleSpec.model_validate(data)


def _transitions(zone: str, year: int) -> list[datetime]:
    """Roughly when (to three hours) ``zone`` changes its UTC offset in ``year``."""
    tz = ZoneInfo(zone)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    while moment.year == year:
        following = moment + timedelta(hours=3)
        if moment.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            found.append(following)
        moment = following
    return found


TRANSITIONS = {zone: _transitions(zone, 2026) + _transitions(zone, 2027) for zone in ZONES}
anywhere = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


def starts(zone: str) -> st.SearchStrategy[datetime]:
    """Random starts are rarely near a clock change; half of these are within two days of one."""
    changes = TRANSITIONS[zone]
    if not changes:
        return anywhere
    near = st.builds(
        lambda at, minutes: at + timedelta(minutes=minutes),
        st.sampled_from(changes),
        st.integers(-2 * 24 * 60, 6 * 60),
    )
    return anywhere | near


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_fire_times_increase_lie_ahead_and_respect_business_days(
    spec: ScheduleSpec, data: st.DataObject
) -> None:
    after = data.draw(starts(spec.zone.key))
    fires = next_fire_times(spec, after, 25)
    epochs = [fire.epoch for fire in fires]
    assert all(epoch > after.timestamp() for epoch in epochs)
    assert epochs == sorted(set(epochs))
    assert all(fire.at.tzinfo is not None and fire.reason for fire in fires)
    assert not any("None" in fire.reason for fire in fires)
    calendar = business_calendar(spec.holidays)
    only_business_days = (spec.cron is None or spec.business_days_only) and (
        spec.close_window is None or spec.close_window.only_business_days
    )
    if only_business_days:
        assert all(calendar.is_business_day(fire.at.astimezone(spec.zone).date()) for fire in fires)
    if fires:
        # The same fire times whichever way they are asked for.
        again = fires_between(spec, after, fires[-1].at)
        assert [f.epoch for f in again] == epochs
        assert [f.reason for f in again] == [f.reason for f in fires]


@settings(max_examples=60, deadline=None)
@given(spec=specs(), data=st.data(), split=st.integers(1, 20))
def test_resuming_from_any_fire_gives_the_rest(
    spec: ScheduleSpec, data: st.DataObject, split: int
) -> None:
    after = data.draw(starts(spec.zone.key))
    fires = next_fire_times(spec, after, 21)
    if len(fires) <= split:
        return
    rest = next_fire_times(spec, fires[split - 1].at, len(fires) - split)
    assert [f.epoch for f in rest] == [f.epoch for f in fires[split:]]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), data=st.data())
def test_fixed_daily_job_fires_exactly_once_per_local_day(zone: str, data: st.DataObject) -> None:
    after = data.draw(starts(zone))
    spec = ScheduleSpec(timezone=zone, cron="30 1 * * *")
    fires = fires_between(spec, after, after + timedelta(days=60))
    days = [fire.at.astimezone(spec.zone).date() for fire in fires]
    assert len(days) == len(set(days))
    assert len(days) in (59, 60, 61)
