"""The schedules a configuration defines: one per Intacct pipeline and company (entity), one
per Sage 100 company and stream.

Defaults fill in what the file leaves out, so that ``serve``, ``status`` and
``schedule preview`` agree on what runs when: the zone comes from the pipeline, else from the
config; an Intacct pipeline without a schedule follows the close calendar of the design
(business days 06:30, hourly from BD-2 to BD+5); a Sage 100 stream without one polls on its
stream's default cron.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ml_connector.companies import Company, pipeline_companies, sage100_streams
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
    """``name`` keys the schedule's slots and runs: the company's key (the pipeline, or
    ``pipeline@CODE``), then ``.stream`` for Sage 100 (``schedule.runs.run_key``)."""

    name: str
    pipeline: str
    stream: str | None
    spec: ScheduleSpec
    company: Company | None = None


def _key(company_key: str, stream: str | None) -> str:
    return company_key if stream is None else f"{company_key}.{stream}"


def pipeline_schedules(
    config: Config, pipeline: str, served: Sequence[str] | None = None
) -> list[ConfiguredSchedule]:
    """The schedules of one pipeline, time zone resolved; ``served``: the agent's companies
    for a ``companies = "*"`` pipeline (unknown: only the companies the config names)."""
    found = config.pipelines.get(pipeline)
    if found is None:
        known = ", ".join(sorted(config.pipelines)) or "none configured"
        raise ConfigError(f"no pipeline named {pipeline!r} (configured: {known})")
    zone = found.timezone or config.timezone
    companies = pipeline_companies(config, pipeline, served)
    if isinstance(found, IntacctPipeline):
        spec = (found.schedule or DEFAULT_INTACCT_SCHEDULE).with_default_timezone(zone)
        return [
            ConfiguredSchedule(company.key, pipeline, None, spec, company) for company in companies
        ]
    schedules = []
    for company in companies:
        for stream, settings in sage100_streams(found, company.code).items():
            if not settings.enabled:
                continue
            spec = settings.schedule or ScheduleSpec(cron=STREAM_SCHEDULES[stream])
            schedules.append(
                ConfiguredSchedule(
                    _key(company.key, stream),
                    pipeline,
                    stream,
                    spec.with_default_timezone(zone),
                    company,
                )
            )
    return schedules


def configured_schedules(
    config: Config, served: Mapping[str, Sequence[str]] | None = None
) -> list[ConfiguredSchedule]:
    """Every schedule of every pipeline, in the order of the file; ``served``: pipeline → the
    agent's companies, for the ``"*"`` pipelines."""
    served = served or {}
    return [
        item
        for name in config.pipelines
        for item in pipeline_schedules(config, name, served.get(name))
    ]
