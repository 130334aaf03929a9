"""The schedule config model: what it accepts, and what it says about what it refuses."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ml_connector.config import parse_config
from ml_connector.errors import ConfigError
from ml_connector.schedule.cron import describe_cron, is_fixed_time, validate_cron
from ml_connector.schedule.spec import ScheduleSpec


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(data)
    return str(caught.value)


def test_full_spec_from_the_documented_shape() -> None:
    spec = ScheduleSpec.model_validate(
        {
            "timezone": "America/Chicago",
            "cron": "30 6 * * *",
            "business_days_only": True,
            "holidays": {"country": "us", "subdivision": "TX"},
            "catch_up": "skip",
            "close_window": {"start": -2, "end": 5, "cron": "0 * * * *"},
            "extra": [{"business_day": 3, "at": "07:00"}, {"business_day": -1, "at": ["17:30"]}],
        }
    )
    assert spec.holidays is not None and spec.holidays.country == "US"
    assert spec.extra[0].at == [time(7, 0)]
    assert spec.zone.key == "America/Chicago"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "expected at least one of cron, close_window or extra"),
        ({"cron": "0 6 * * * *"}, "expected a cron expression with 5 fields"),
        ({"cron": "61 6 * * *"}, "expected a valid cron expression"),
        ({"cron": "0 0 30 2 *"}, "expected a cron expression that matches some date"),
        ({"cron": "@reboot"}, "expected a cron expression or one of @yearly"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "expected an IANA time zone"),
        ({"cron": "0 6 * * *", "catch_up": "burst"}, "'coalesce' or 'skip'"),
        ({"cron": "0 6 * * *", "cadence": "daily"}, "Extra inputs are not permitted"),
        ({"extra": [{"business_day": 0, "at": "07:00"}]}, "expected a business day from 1 to 23"),
        ({"extra": [{"business_day": 24, "at": "07:00"}]}, "expected a business day from 1 to 23"),
        ({"extra": [{"business_day": 1, "at": "07:00:30"}]}, "whole minutes"),
        ({"extra": [{"business_day": 1, "at": []}]}, "at least 1 item"),
        (
            {"close_window": {"start": 3, "end": -1, "cron": "0 * * * *"}},
            "expected close_window.start before close_window.end",
        ),
        (
            {"cron": "0 6 * * *", "business_days_only": True, "holidays": {"country": "XX"}},
            "expected a country code the holidays package knows",
        ),
        (
            {
                "cron": "0 6 * * *",
                "business_days_only": True,
                "holidays": {"country": "US", "subdivision": "ZZ"},
            },
            "expected a subdivision of US",
        ),
        (
            {"cron": "0 6 * * *", "holidays": {"country": "US"}},
            "otherwise the holiday calendar is never used",
        ),
        (
            {"business_days_only": True, "extra": [{"business_day": 1, "at": "07:00"}]},
            "expected cron with",
        ),
    ],
)
def test_refusals_say_what_is_expected(data: dict[str, Any], expected: str) -> None:
    assert expected in problems(data)


def test_close_window_across_month_end_may_start_after_the_month() -> None:
    spec = ScheduleSpec.model_validate({"close_window": {"start": 1, "end": 3, "cron": "@hourly"}})
    assert spec.close_window is not None and spec.close_window.cron == "0 * * * *"


def test_default_timezone_fills_in_only_when_missing() -> None:
    bare = ScheduleSpec(cron="0 6 * * *")
    assert bare.zone.key == "UTC"
    assert bare.with_default_timezone("Europe/London").zone.key == "Europe/London"
    own = ScheduleSpec(cron="0 6 * * *", timezone="Asia/Tokyo")
    assert own.with_default_timezone("Europe/London").zone.key == "Asia/Tokyo"


def test_config_file_errors_name_the_schedule_key(tmp_path: Path) -> None:
    data = {
        "slack": {"workspaces": {"default": {"bot_token": "slack.bot_token"}}},
        "connections": {
            "intacct": {
                "type": "intacct",
                "sender_id": "s",
                "sender_password": "intacct.sender",
                "company_id": "c",
                "user_id": "u",
                "user_password": "intacct.user",
            }
        },
        "pipelines": {
            "intacct": {
                "type": "intacct",
                "connection": "intacct",
                "channels": {"gl": "C0GLPOST01", "payments": "C0PAYMNT01", "alerts": "C0ALERT01"},
                "schedule": {"cron": "30 6 * *", "close_window": {"start": 0, "end": 2}},
            }
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "ml-connector.toml")
    lines = caught.value.problems
    assert any(
        "pipelines.intacct.schedule.cron: expected a cron expression with 5 fields" in line
        for line in lines
    ), lines
    assert any("pipelines.intacct.schedule.close_window.start: expected" in line for line in lines)
    assert any("pipelines.intacct.schedule.close_window.cron: required" in line for line in lines)


@pytest.mark.parametrize(
    ("expr", "business_days_only", "expected"),
    [
        ("30 6 * * *", False, "daily 06:30"),
        ("30 6 * * 1-5", False, "weekdays 06:30"),
        ("30 6 * * MON-FRI", True, "business days 06:30"),
        ("30 6 * * *", True, "business days 06:30"),
        ("0 9,13 * * *", False, "daily 09:00, 13:00"),
        ("0 * * * *", False, "hourly"),
        ("15 * * * 1-5", False, "weekdays hourly at :15"),
        ("*/15 * * * *", False, "every 15 minutes"),
        ("0 */2 * * *", False, "every 2 hours"),
        ("0 8-17 * * 1-5", False, "weekdays hourly 08:00–17:00"),
        ("0 9 * * 1", False, "Mondays 09:00"),
        ("0 8-18/4 * * *", False, "every 4 hours 08:00–16:00"),
        ("0 9 1 * *", False, "day 1 of the month 09:00"),
        ("0 9 L * *", False, "last day of the month 09:00"),
        ("0 9 1 1 *", False, "cron 0 9 1 1 *"),
        ("0 9 1 1 *", True, "cron 0 9 1 1 * on business days"),
        ("* * * * *", False, "every minute"),
    ],
)
def test_cron_descriptions(expr: str, business_days_only: bool, expected: str) -> None:
    assert describe_cron(validate_cron(expr), business_days_only=business_days_only) == expected


def test_window_cadence_leaves_out_the_days() -> None:
    assert describe_cron("0 * * * *", with_days=False) == "hourly"
    assert describe_cron("30 6,12 * * *", with_days=False) == "06:30, 12:30"


def test_vixie_fixed_time_jobs() -> None:
    assert is_fixed_time("30 2 * * *")
    assert is_fixed_time("0,30 1 * * *")
    assert not is_fixed_time("0 * * * *")
    assert not is_fixed_time("*/15 2 * * *")
    assert validate_cron("  @Daily ") == "0 0 * * *"
