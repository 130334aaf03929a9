"""What the service is doing, in one snapshot: the status page, `/mlc status` and the CLI.

One function reads the database once and the configuration, so the three views can never
disagree about what "last run" or "queue depth" means. Everything returned is display-safe:
free text that came from outside (run errors, Slack errors) is passed through the log
redactor, and installations are described by :class:`InstallationStatus`, which never holds
a token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.companies import Company, pipeline_of
from ml_connector.config import Config
from ml_connector.delivery.audit import AuditEntry, list_entries
from ml_connector.delivery.outbox import Status, queue_depth
from ml_connector.redact import redact_text
from ml_connector.sage100.certificates import CertificateStatus, certificate_status
from ml_connector.schedule.configured import ConfiguredSchedule, configured_schedules
from ml_connector.schedule.cron import describe_cron
from ml_connector.schedule.planner import next_fire_times
from ml_connector.schedule.spec import ScheduleSpec
from ml_connector.slack.tokens import InstallationStatus, installation_status
from ml_connector.store.retention import OUTBOX, Mark, all_marks
from ml_connector.store.size import DatabaseSize, database_size
from ml_connector.store.tables import outbox, runs

RUNNING = "running"
# Far enough to find the next run of any sensible schedule without scanning for years.
NEXT_RUN_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class RunSummary:
    id: int
    trigger: str
    status: str
    started_at: float
    finished_at: float | None
    records_read: int
    messages_queued: int
    error: str | None

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True)
class ScheduleStatus:
    name: str
    stream: str | None
    description: str
    timezone: str
    next_run: float | None
    next_reason: str | None
    company: Company | None = None


@dataclass(frozen=True)
class PipelineStatus:
    name: str
    type: str
    workspace: str
    schedules: tuple[ScheduleStatus, ...]
    last_run: RunSummary | None
    running: RunSummary | None
    dead_letters: int

    @property
    def next_run(self) -> float | None:
        times = [s.next_run for s in self.schedules if s.next_run is not None]
        return min(times) if times else None


@dataclass(frozen=True)
class ChannelQueue:
    workspace: str
    channel: str
    depth: int


@dataclass(frozen=True)
class StorageStatus:
    """The database's size and what retention keeps and has pruned."""

    size: DatabaseSize
    retention_days: int
    marks: tuple[Mark, ...]

    @property
    def last_pruned(self) -> Mark | None:
        return next((m for m in self.marks if m.name == OUTBOX), None)

    def describe_retention(self) -> str:
        """``kept 90 days; 1,204 delivered messages pruned so far, delivered before …``."""
        kept = f"delivered messages kept {self.retention_days} days"
        mark = self.last_pruned
        if mark is None:
            return f"{kept}; none pruned yet"
        return f"{kept}; {mark.pruned_rows:,} pruned so far (delivered before {mark.cutoff_date})"


@dataclass(frozen=True)
class ServiceStatus:
    generated_at: float
    pipelines: tuple[PipelineStatus, ...]
    queues: tuple[ChannelQueue, ...]
    dead_letters: int
    installations: tuple[InstallationStatus, ...]
    recent: tuple[AuditEntry, ...]
    storage: StorageStatus | None = None
    #: the Sage 100 agents' CA, client and server certificates (expiry warnings)
    certificates: tuple[CertificateStatus, ...] = ()

    @property
    def queued(self) -> int:
        return sum(q.depth for q in self.queues)

    def certificate_warnings(self) -> list[str]:
        """One line per certificate expired, unreadable or within 30 days of expiry."""
        now = clock.to_datetime(self.generated_at)
        return [f"{c.connection}: {c.note(now)}" for c in self.certificates if c.attention(now)]


async def gather_status(
    config: Config,
    engine: AsyncEngine,
    *,
    now: float | None = None,
    recent_limit: int = 20,
    served: dict[str, list[str]] | None = None,
) -> ServiceStatus:
    """Read everything the views show. One short database connection, then installations.

    The installations are read after the first connection is closed: on SQLite every
    connection holds the write lock, and a second one opened inside it would wait.
    """
    moment = clock.now() if now is None else now
    async with engine.connect() as conn:
        last = _by_pipeline(await _latest_runs(conn, running=False), config)
        active = _by_pipeline(await _latest_runs(conn, running=True), config)
        dead = await _dead_letters_by_pipeline(conn)
        depth = await queue_depth(conn)
        recent = await list_entries(conn, limit=recent_limit) if recent_limit > 0 else []
        storage = StorageStatus(
            size=await database_size(conn),
            retention_days=config.retention.days,
            marks=tuple((await all_marks(conn)).values()),
        )
        certificates = await certificate_status(conn, config)
    installations = [
        await installation_status(engine, name, settings)
        for name, settings in config.slack.workspaces.items()
    ]
    schedules = configured_schedules(config, served)
    pipelines = tuple(
        PipelineStatus(
            name=name,
            type=pipeline.type,
            workspace=pipeline.workspace,
            schedules=tuple(schedule_status(s, moment) for s in schedules if s.pipeline == name),
            last_run=last.get(name),
            running=active.get(name),
            dead_letters=dead.get(name, 0),
        )
        for name, pipeline in config.pipelines.items()
    )
    return ServiceStatus(
        generated_at=moment,
        pipelines=pipelines,
        queues=tuple(
            ChannelQueue(workspace, channel, count)
            for (workspace, channel), count in sorted(depth.items())
        ),
        dead_letters=sum(dead.values()),
        installations=tuple(installations),
        recent=tuple(_safe_entry(entry) for entry in recent),
        storage=storage,
        certificates=certificates,
    )


def schedule_status(schedule: ConfiguredSchedule, now: float) -> ScheduleStatus:
    spec = schedule.spec
    fires = next_fire_times(spec, clock.to_datetime(now), 1, horizon=NEXT_RUN_HORIZON)
    return ScheduleStatus(
        name=schedule.name,
        stream=schedule.stream,
        description=describe_schedule(spec),
        timezone=spec.zone.key,
        next_run=fires[0].epoch if fires else None,
        next_reason=fires[0].reason if fires else None,
        company=schedule.company,
    )


def describe_schedule(spec: ScheduleSpec) -> str:
    """One line per rule, joined: "business days 06:30; BD-2..BD+5: hourly"."""
    parts: list[str] = []
    if spec.cron is not None:
        parts.append(
            spec.label or describe_cron(spec.cron, business_days_only=spec.business_days_only)
        )
    window = spec.close_window
    if window is not None:
        span = f"BD{window.start:+d}..BD{window.end:+d}"
        parts.append(window.label or f"{span}: {describe_cron(window.cron, with_days=False)}")
    for rule in spec.extra:
        times = ", ".join(f"{t:%H:%M}" for t in rule.at)
        parts.append(rule.label or f"BD{rule.business_day:+d} at {times}")
    return "; ".join(parts)


async def _latest_runs(conn: AsyncConnection, *, running: bool) -> dict[str, RunSummary]:
    """The newest run of each pipeline, finished or still running (ids grow with time)."""
    state = runs.c.status == RUNNING if running else runs.c.status != RUNNING
    newest = (
        sa.select(sa.func.max(runs.c.id).label("id")).where(state).group_by(runs.c.pipeline)
    ).subquery()
    rows = await conn.execute(sa.select(runs).join(newest, runs.c.id == newest.c.id))
    return {row.pipeline: _run(row) for row in rows}


def _by_pipeline(latest: dict[str, RunSummary], config: Config) -> dict[str, RunSummary]:
    """Fold company and stream runs (``sage100@XYZ.ap_invoices``) into their pipeline, newest
    first."""
    folded: dict[str, RunSummary] = {}
    for key, summary in latest.items():
        name = key if key in config.pipelines else pipeline_of(key)
        current = folded.get(name)
        if current is None or summary.started_at > current.started_at:
            folded[name] = summary
    return folded


def _run(row: Any) -> RunSummary:
    return RunSummary(
        id=row.id,
        trigger=row.trigger,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        records_read=row.records_read,
        messages_queued=row.messages_queued,
        error=redact_text(row.error) if row.error else None,
    )


async def _dead_letters_by_pipeline(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(outbox.c.pipeline, sa.func.count())
        .where(outbox.c.status == Status.DEAD.value)
        .group_by(outbox.c.pipeline)
    )
    return {str(pipeline or "(none)"): int(count) for pipeline, count in rows}


def _safe_entry(entry: AuditEntry) -> AuditEntry:
    if not entry.last_error and not entry.held_reason:
        return entry
    return dataclasses.replace(
        entry,
        last_error=redact_text(entry.last_error) if entry.last_error else None,
        held_reason=redact_text(entry.held_reason) if entry.held_reason else None,
    )
