"""The audit trail: every attempt of every message, and the queries behind `audit` and status.

An outbox row already keeps its source record keys and the rendered message; each attempt
adds a row here with its time, outcome, HTTP status, Slack error or ``ts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.store.tables import delivery_attempts, outbox


async def record_attempt(
    conn: AsyncConnection,
    outbox_id: int,
    *,
    at: float,
    outcome: str,
    worker: str,
    http_status: int | None = None,
    slack_error: str | None = None,
    slack_ts: str | None = None,
    duration_ms: int | None = None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        delivery_attempts.insert().values(
            outbox_id=outbox_id,
            attempted_at=at,
            outcome=outcome,
            worker=worker,
            http_status=http_status,
            slack_error=slack_error,
            slack_ts=slack_ts,
            duration_ms=duration_ms,
            detail=detail[:2000] if detail else None,
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    pipeline: str | None
    run_id: int | None
    kind: str | None
    workspace: str
    channel: str
    status: str
    attempts: int
    created_at: float
    delivered_at: float | None
    slack_ts: str | None
    last_error: str | None
    held_reason: str | None
    replay_of: int | None
    dedupe_key: str
    source: dict[str, Any]
    message: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    attempted_at: float
    outcome: str
    http_status: int | None
    slack_error: str | None
    slack_ts: str | None
    duration_ms: int | None
    worker: str | None
    detail: str | None


def _entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        pipeline=row.pipeline,
        run_id=row.run_id,
        kind=row.kind,
        workspace=row.workspace,
        channel=row.channel,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        slack_ts=row.slack_ts,
        last_error=row.last_error,
        held_reason=row.held_reason,
        replay_of=row.replay_of,
        dedupe_key=row.dedupe_key,
        source=row.source,
        message=row.message,
    )


async def list_entries(
    conn: AsyncConnection,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    since: float | None = None,
    run_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if pipeline is not None:
        query = query.where(outbox.c.pipeline == pipeline)
    if status is not None:
        query = query.where(outbox.c.status == status)
    if since is not None:
        query = query.where(outbox.c.created_at >= since)
    if run_id is not None:
        query = query.where(outbox.c.run_id == run_id)
    return [_entry(row) for row in await conn.execute(query)]


async def get_entry(conn: AsyncConnection, outbox_id: int) -> AuditEntry | None:
    row = (await conn.execute(sa.select(outbox).where(outbox.c.id == outbox_id))).first()
    return None if row is None else _entry(row)


async def attempts(conn: AsyncConnection, outbox_id: int) -> list[Attempt]:
    rows = await conn.execute(
        sa.select(delivery_attempts)
        .where(delivery_attempts.c.outbox_id == outbox_id)
        .order_by(delivery_attempts.c.id)
    )
    return [
        Attempt(
            attempted_at=r.attempted_at,
            outcome=r.outcome,
            http_status=r.http_status,
            slack_error=r.slack_error,
            slack_ts=r.slack_ts,
            duration_ms=r.duration_ms,
            worker=r.worker,
            detail=r.detail,
        )
        for r in rows
    ]
