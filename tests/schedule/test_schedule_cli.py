"""`ml-connector schedule preview`: fire times and reasons straight from the config file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.schedule.configured import (
    DEFAULT_INTACCT_SCHEDULE,
    configured_schedules,
    pipeline_schedules,
)

CONFIG = """
timezone = "America/Chicago"

[slack.workspaces.default]
bot_token = "slack.bot_token"

[connections.intacct]
type = "intacct"
sender_id = "acme"
sender_password = "intacct.sender_password"
company_id = "acme"
user_id = "mlc"
user_password = "intacct.user_password"

[connections.sage100]
type = "sage100"
agent_url = "https://sage100.example.internal:8443"
company = "ABC"
auth = "api_key"
api_key = "sage100.api_key"

[pipelines.intacct]
type = "intacct"
connection = "intacct"
channels = { gl = "C0GLPOST01", payments = "C0PAYMNT01", alerts = "C0ALERTS01" }

[pipelines.intacct.schedule]
cron = "30 6 * * *"
business_days_only = true
holidays = { country = "US" }

[pipelines.intacct.schedule.close_window]
start = -1
end = 1
cron = "0 12 * * *"

[[pipelines.intacct.schedule.extra]]
business_day = 3
at = "07:00"

[pipelines.sage100]
type = "sage100"
connection = "sage100"
timezone = "Europe/London"

[pipelines.sage100.streams.ap_invoices]
channel = "C0APINVC01"

[pipelines.sage100.streams.gl_postings]
channel = "C0GLJRNL01"
schedule = { cron = "0 7 * * *" }
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ml-connector.toml"
    path.write_text(CONFIG)
    return path


def preview(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_connector",
            "schedule",
            "preview",
            *args,
            "-c",
            str(config_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_preview_lists_fire_times_with_reasons(config_file: Path) -> None:
    result = preview(config_file, "intacct", "--next", "6", "--from", "2026-11-25T00:00")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "CST" in line]
    expected = [
        ("Wed 2026-11-25 06:30 CST", "business days 06:30"),
        ("Fri 2026-11-27 06:30 CST", "business days 06:30"),
        ("Mon 2026-11-30 06:30 CST", "business days 06:30"),
        ("Mon 2026-11-30 12:00 CST", "close window (BD-1) 12:00"),
        ("Tue 2026-12-01 06:30 CST", "business days 06:30"),
        ("Tue 2026-12-01 12:00 CST", "close window (BD+1) 12:00"),
    ]
    assert len(lines) == len(expected), result.stdout
    for line, (when, reason) in zip(lines, expected, strict=True):
        assert when in line and reason in line, line
    assert "intacct — next 6 fire times (America/Chicago, coalesce catch-up)" in result.stdout


def test_preview_of_sage100_streams_uses_the_pipeline_zone(config_file: Path) -> None:
    result = preview(config_file, "sage100", "-n", "2", "--from", "2026-10-25T00:40+01:00")
    assert result.returncode == 0, result.stderr
    assert "sage100.ap_invoices — next 2 fire times (Europe/London" in result.stdout
    assert "Sun 2026-10-25 00:45 BST" in result.stdout
    assert "every 15 minutes" in result.stdout
    assert "sage100.gl_postings" in result.stdout
    assert "Sun 2026-10-25 07:00 GMT" in result.stdout
    only = preview(config_file, "sage100", "--stream", "gl_postings", "-n", "1")
    assert only.returncode == 0, only.stderr
    assert "ap_invoices" not in only.stdout
    assert "daily 07:00" in only.stdout


def test_preview_names_what_is_wrong(config_file: Path) -> None:
    unknown = preview(config_file, "netsuite")
    assert unknown.returncode == 2
    assert "no pipeline named 'netsuite' (configured: intacct, sage100)" in unknown.stderr
    bad_start = preview(config_file, "intacct", "--from", "next tuesday")
    assert bad_start.returncode == 2
    assert "--from: expected an ISO date and time" in bad_start.stderr
    no_stream = preview(config_file, "sage100", "--stream", "purchase_orders")
    assert no_stream.returncode == 2
    assert "has no enabled stream 'purchase_orders'" in no_stream.stderr


def test_configured_schedules_fill_in_zones_and_defaults(config_file: Path) -> None:
    config = load_config(config_file)
    schedules = {item.name: item for item in configured_schedules(config)}
    assert list(schedules) == ["intacct", "sage100.ap_invoices", "sage100.gl_postings"]
    assert schedules["intacct"].spec.zone.key == "America/Chicago"
    assert schedules["sage100.ap_invoices"].spec.cron == "*/15 * * * *"
    assert schedules["sage100.ap_invoices"].spec.zone.key == "Europe/London"
    assert (schedules["sage100.gl_postings"].pipeline, schedules["sage100.gl_postings"].stream) == (
        "sage100",
        "gl_postings",
    )
    without = CONFIG.split("[pipelines.intacct.schedule]")[0] + "\n"
    bare = config_file.with_name("bare.toml")
    bare.write_text(without)
    (only,) = pipeline_schedules(load_config(bare), "intacct")
    assert only.spec == DEFAULT_INTACCT_SCHEDULE.with_default_timezone("America/Chicago")
