"""The schedules a configuration defines: one per Intacct pipeline, one per Sage 100 stream.

Defaults fill in what the file leaves out, so that ``serve``, ``status`` and
``schedule preview`` agree on what runs when: the zone comes from the pipeline, else from the
config; an Intacct pipeline without a schedule follows the close calendar of the design
(business days 06:30, hourly from BD-2 to BD+5); a Sage 100 stream without one polls on its
stream's default cron.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_connector.config import STREAM_SCHEDULES, Config, IntacctPipeline
from ml_connector.errors import ConfigError
from ml_connector.schedule.spec import CloseWindow, ScheduleSpec

DEFAULT_INTACCT_SCHEDULE = ScheduleSpec(
    cron="30 6 * * *",
    business_days_only=True,
    close_window=CloseWindow(start=-2, end=5, cron="0 * * * *"),
)


@dataclass(frozen=True, slots=True)
class ConfiguredSchedule:
    """``name`` keys the schedule's slots: the pipeline, or ``pipeline.stream`` for Sage 100."""

    name: str
    pipeline: str
    stream: str | None
    spec: ScheduleSpec


def pipeline_schedules(config: Config, pipeline: str) -> list[ConfiguredSchedule]:
    """The schedules of one pipeline, time zone resolved."""
    found = config.pipelines.get(pipeline)
    if found is None:
        known = ", ".join(sorted(config.pipelines)) or "none configured"
        raise ConfigError(f"no pipeline named {pipeline!r} (configured: {known})")
    zone = found.timezone or config.timezone
    if isinstance(found, IntacctPipeline):
        spec = found.schedule or DEFAULT_INTACCT_SCHEDULE
        return [ConfiguredSchedule(pipeline, pipeline, None, spec.with_default_timezone(zone))]
    schedules = []
    for stream, settings in found.streams.items():
        if not settings.enabled:
            continue
        spec = settings.schedule or ScheduleSpec(cron=STREAM_SCHEDULES[stream])
        schedules.append(
            ConfiguredSchedule(
                f"{pipeline}.{stream}", pipeline, stream, spec.with_default_timezone(zone)
            )
        )
    return schedules


def configured_schedules(config: Config) -> list[ConfiguredSchedule]:
    """Every schedule of every pipeline, in the order of the file."""
    return [item for name in config.pipelines for item in pipeline_schedules(config, name)]
