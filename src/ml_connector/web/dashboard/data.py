"""What the dashboard shows, read from the database and the config (never a secret).

One row per (pipeline, company, stream), the series behind the charts (hourly for 24 h,
daily for 7 days), dead letters, source health and installation health. Outside text
(errors) is redacted the way the status page redacts it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import Company, intacct_channels, pipeline_of, sage100_streams
from ml_connector.config import Config, IntacctConnection, Sage100Connection, Sage100Pipeline
from ml_connector.delivery.outbox import Status
from ml_connector.redact import redact_text
from ml_connector.sage100.certificates import CertificateStatus
from ml_connector.schedule.runs import run_key
from ml_connector.slack.scopes import missing_scopes
from ml_connector.slack.tokens import installation_status
from ml_connector.status import ServiceStatus
from ml_connector.store.companies import Pause, paused
from ml_connector.store.tables import delivery_attempts, intacct_sessions, outbox, runs

DAY = 86400.0
DELIVERED_OUTCOMES = ("delivered", "reconciled_found")


@dataclass(frozen=True)
class StreamRow:
    pipeline: str
    company: str
    stream: str | None
    channels: tuple[str, ...]
    workspace: str
    last_started: float | None
    last_status: str | None
    last_error: str | None
    records_read: int | None
    next_run: float | None
    posted_24h: int
    failures_24h: int
    # "paused by an operator" / "paused after repeated failures" (store.companies), else None.
    paused: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    id: int
    pipeline: str | None
    workspace: str
    channel: str
    created_at: float
    error: str


@dataclass(frozen=True)
class Series:
    labels: tuple[str, ...]
    posts: tuple[int, ...]
    failures: tuple[int, ...]
    queue_depth: tuple[int, ...]
    run_seconds: tuple[float, ...]
    posts_per_channel: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SourceHealth:
    name: str
    kind: str
    last_success: float | None
    detail: str
    #: something to do: a certificate expired, unreadable or within 30 days of expiry
    attention: bool = False


@dataclass(frozen=True)
class InstallationHealth:
    workspace: str
    state: str
    team_id: str | None
    team_name: str | None
    missing_scopes: tuple[str, ...]
    scopes_known: bool
    reason: str | None


@dataclass
class Dashboard:
    rows: list[StreamRow]
    dead_letters: list[DeadLetter]
    day: Series
    week: Series
    sources: list[SourceHealth]
    installations: list[InstallationHealth]
    channel_workspace: dict[str, str] = field(default_factory=dict)


async def gather_dashboard(
    config: Config, engine: AsyncEngine, status: ServiceStatus, now: float | None = None
) -> Dashboard:
    moment = time.time() if now is None else now
    since = moment - 7 * DAY
    async with engine.connect() as conn:
        run_rows = (
            await conn.execute(
                sa.select(runs).where(runs.c.started_at >= since).order_by(runs.c.started_at)
            )
        ).all()
        latest = {
            r.pipeline: r
            for r in (await conn.execute(sa.select(runs).order_by(runs.c.id))).all()
            if r.status != "running"
        }
        posted = (
            await conn.execute(
                sa.select(outbox.c.channel, outbox.c.delivered_at, outbox.c.run_id).where(
                    outbox.c.delivered_at >= since
                )
            )
        ).all()
        queued = (
            await conn.execute(
                sa.select(outbox.c.created_at, outbox.c.delivered_at, outbox.c.status).where(
                    sa.or_(outbox.c.delivered_at.is_(None), outbox.c.delivered_at >= since)
                )
            )
        ).all()
        failed_attempts = (
            await conn.execute(
                sa.select(delivery_attempts.c.attempted_at).where(
                    delivery_attempts.c.attempted_at >= since,
                    delivery_attempts.c.outcome.not_in(DELIVERED_OUTCOMES),
                )
            )
        ).all()
        dead = (
            await conn.execute(
                sa.select(outbox)
                .where(outbox.c.status == Status.DEAD.value)
                .order_by(outbox.c.id.desc())
                .limit(50)
            )
        ).all()
        sessions = (await conn.execute(sa.select(intacct_sessions))).all()
        stopped = await paused(conn)
    run_of = {r.id: r.pipeline for r in run_rows}
    rows = _rows(config, status, latest, run_rows, posted, run_of, moment, stopped)
    series = {
        width: _series(
            moment, width, count, run_rows, posted, queued, [a[0] for a in failed_attempts]
        )
        for width, count in ((3600.0, 24), (DAY, 7))
    }
    installations = [await _installation(engine, config, name) for name in config.slack.workspaces]
    return Dashboard(
        rows=rows,
        dead_letters=[
            DeadLetter(
                d.id,
                d.pipeline,
                d.workspace,
                d.channel,
                d.created_at,
                redact_text(d.last_error or "no reason recorded"),
            )
            for d in dead
        ],
        day=series[3600.0],
        week=series[DAY],
        sources=_sources(config, latest, sessions, moment, status.certificates),
        installations=installations,
    )


def _rows(
    config: Config,
    status: ServiceStatus,
    latest: dict[str, Any],
    run_rows: Sequence[Any],
    posted: Sequence[Any],
    run_of: dict[int, str],
    now: float,
    stopped: Mapping[tuple[str, str], Pause] | None = None,
) -> list[StreamRow]:
    day_ago = now - DAY
    posts = Counter(run_of.get(p.run_id) for p in posted if p.delivered_at >= day_ago)
    failures = Counter(
        r.pipeline
        for r in run_rows
        if r.started_at >= day_ago and r.status in ("failed", "partial")
    )
    out: list[StreamRow] = []
    for p in status.pipelines:
        settings = config.pipelines[p.name]
        connection = config.connections[settings.connection]
        companies: list[Company | None] = list(
            dict.fromkeys(s.company for s in p.schedules if s.company)
        ) or [None]
        for company in companies:
            code = company.code if company is not None else None
            if isinstance(settings, Sage100Pipeline):
                own = sage100_streams(settings, code) if code else dict(settings.streams)
                streams: list[tuple[str | None, tuple[str, ...]]] = [
                    (name, (s.channel, *(r.channel for r in s.routes)))
                    for name, s in own.items()
                    if s.enabled
                ]
                shown = (
                    code
                    or (connection.company if isinstance(connection, Sage100Connection) else None)
                    or "—"
                )
            else:
                ch = intacct_channels(settings, code) if code else settings.channels
                streams = [(None, tuple(dict.fromkeys((ch.gl, ch.payments, ch.alerts))))]
                top = connection.company_id if isinstance(connection, IntacctConnection) else ""
                shown = top if code in (None, top) else f"{top} · entity {code}"
            for stream, channels in streams:
                key = run_key(company.key if company is not None else p.name, stream)
                last = latest.get(key)
                nexts = [
                    s.next_run
                    for s in p.schedules
                    if s.stream == stream and s.company == company and s.next_run
                ]
                out.append(
                    StreamRow(
                        pipeline=p.name,
                        company=shown,
                        stream=stream,
                        channels=tuple(dict.fromkeys(channels)),
                        workspace=p.workspace,
                        last_started=last.started_at if last else None,
                        last_status=last.status if last else None,
                        last_error=redact_text(last.error) if last and last.error else None,
                        records_read=last.records_read if last else None,
                        next_run=min(nexts) if nexts else None,
                        posted_24h=posts.get(key, 0),
                        failures_24h=failures.get(key, 0),
                        paused=_pause_text((stopped or {}).get((p.name, code or ""))),
                    )
                )
    return out


def _pause_text(pause: Pause | None) -> str | None:
    if pause is None:
        return None
    return "paused by an operator" if pause.reason == "operator" else "paused after failures"


def _series(
    now: float,
    width: float,
    count: int,
    run_rows: Sequence[Any],
    posted: Sequence[Any],
    queued: Sequence[Any],
    failed_at: Sequence[float],
) -> Series:
    start = now - width * count

    def bucket(t: float) -> int | None:
        i = int((t - start) // width)
        return i if 0 <= i < count else None

    posts = [0] * count
    channels: Counter[str] = Counter()
    for p in posted:
        i = bucket(p.delivered_at)
        if i is not None:
            posts[i] += 1
            channels[p.channel] += 1
    failures = [0] * count
    for t in failed_at:
        i = bucket(t)
        if i is not None:
            failures[i] += 1
    seconds: list[list[float]] = [[] for _ in range(count)]
    for r in run_rows:
        i = bucket(r.started_at)
        if i is None:
            continue
        if r.status in ("failed", "partial"):
            failures[i] += 1
        if r.finished_at is not None:
            seconds[i].append(r.finished_at - r.started_at)
    depth = []
    for i in range(count):
        edge = start + (i + 1) * width
        depth.append(
            sum(
                1
                for q in queued
                if q.created_at <= edge
                and (q.delivered_at is None or q.delivered_at > edge)
                and q.status not in (Status.DEAD, Status.REPLAYED)
            )
        )
    fmt = "%H:00" if width < DAY else "%a %d"
    labels = tuple(
        datetime.fromtimestamp(start + i * width, tz=UTC).strftime(fmt) for i in range(count)
    )
    return Series(
        labels=labels,
        posts=tuple(posts),
        failures=tuple(failures),
        queue_depth=tuple(depth),
        run_seconds=tuple(round(sum(s) / len(s), 2) if s else 0.0 for s in seconds),
        posts_per_channel=tuple(channels.most_common(12)),
    )


def _sources(
    config: Config,
    latest: dict[str, Any],
    sessions: Sequence[Any],
    now: float,
    certificates: Sequence[CertificateStatus] = (),
) -> list[SourceHealth]:
    out = []
    for name, connection in config.connections.items():
        users = [p for p, s in config.pipelines.items() if s.connection == name]
        succeeded = [
            r.finished_at
            for key, r in latest.items()
            if pipeline_of(key) in users and r.status == "succeeded"
        ]
        last = max(succeeded, default=None)
        if isinstance(connection, IntacctConnection):
            live = [s for s in sessions if s.expires_at > now]
            detail = (
                f"session valid until {_utc(max(s.expires_at for s in live))}"
                if live
                else "no session (logs in on the next run)"
            )
            out.append(SourceHealth(name, "Sage Intacct", last, detail))
        else:
            mine = [c for c in certificates if c.connection == name]
            detail, attention = _cert_detail(connection, mine, now)
            out.append(SourceHealth(name, "Sage 100 agent", last, detail, attention))
    return out


def _cert_detail(
    connection: Sage100Connection, certificates: Sequence[CertificateStatus], now: float
) -> tuple[str, bool]:
    """The connection's certificates in one line (the status page's words) and whether any
    needs doing: expired, unreadable, or within 30 days of expiry."""
    if not certificates:
        company = f", company {connection.company}" if connection.company else ""
        return f"API key auth{company}", False
    moment = datetime.fromtimestamp(now, tz=UTC)
    parts = [f"{c.what} {c.state(moment)}: {c.note(moment)}" for c in certificates]
    return "; ".join(parts), any(c.attention(moment) for c in certificates)


async def _installation(engine: AsyncEngine, config: Config, name: str) -> InstallationHealth:
    found = await installation_status(engine, name, config.slack.workspaces[name])
    known = found.scopes is not None
    return InstallationHealth(
        workspace=name,
        state=found.state,
        team_id=found.team_id,
        team_name=found.team_name,
        missing_scopes=tuple(missing_scopes(found.scopes)) if known else (),
        scopes_known=known,
        reason=redact_text(found.reason) if found.reason else None,
    )


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
