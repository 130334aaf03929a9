"""Adding messages to the outbox, inside the caller's transaction.

A pipeline commits its cursor and its messages in one transaction: ``enqueue`` never opens
its own, and ``enqueue_all`` fences the run first, so a run declared dead commits neither.
The dedupe key (pipeline, record key, record version) makes re-reading an overlapping window
harmless: a second enqueue with the same key adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.schedule.runs import fence_run
from ml_connector.store.tables import channel_pacing, outbox


class Status(StrEnum):
    PENDING = "pending"  # waiting for its turn in the channel
    IN_FLIGHT = "in_flight"  # a worker is posting it now
    UNKNOWN = "unknown"  # sent, answer lost: reconcile before anything else in the channel
    DELIVERED = "delivered"
    DEAD = "dead"  # given up; replay to try again
    HELD = "held"  # its workspace's installation is unusable; resumes when fixed
    REPLAYED = "replayed"  # a dead letter that was posted again as a new row


OPEN_STATUSES = (Status.PENDING, Status.IN_FLIGHT, Status.UNKNOWN, Status.HELD)


class SupportsPayload(Protocol):
    def to_payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OutboxMessage:
    """What is posted: the fallback text (notifications, screen readers) and Block Kit."""

    text: str
    blocks: list[dict[str, Any]]

    def to_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class OutboxItem:
    id: int
    workspace: str
    channel: str
    status: str
    message: dict[str, Any]
    attempts: int
    created_at: float
    first_unknown_at: float | None
    dedupe_key: str

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> OutboxItem:
        return cls(
            id=row.id,
            workspace=row.workspace,
            channel=row.channel,
            status=row.status,
            message=row.message,
            attempts=row.attempts,
            created_at=row.created_at,
            first_unknown_at=row.first_unknown_at,
            dedupe_key=row.dedupe_key,
        )


def _payload(message: SupportsPayload | Mapping[str, Any]) -> dict[str, Any]:
    payload = dict(message) if isinstance(message, Mapping) else message.to_payload()
    if not payload.get("text"):
        raise ValueError("every message needs a plain text fallback")
    return {"text": payload["text"], "blocks": list(payload.get("blocks") or [])}


async def enqueue(
    conn: AsyncConnection,
    *,
    workspace: str,
    channel: str,
    message: SupportsPayload | Mapping[str, Any],
    dedupe_key: str,
    source: Mapping[str, Any],
    pipeline: str | None = None,
    run_id: int | None = None,
    kind: str | None = None,
    replay_of: int | None = None,
) -> int | None:
    """Add a message unless its dedupe key is already there; return the new id or None."""
    now = clock.now()
    values = {
        "dedupe_key": dedupe_key,
        "workspace": workspace,
        "channel": channel,
        "pipeline": pipeline,
        "run_id": run_id,
        "kind": kind,
        "status": Status.PENDING.value,
        "source": dict(source),
        "message": _payload(message),
        "attempts": 0,
        "created_at": now,
        "not_before": now,
        "replay_of": replay_of,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(outbox)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(outbox.c.id)
    )
    new_id: int | None = await conn.scalar(statement)
    if new_id is not None:
        await ensure_channel(conn, workspace, channel)
    return new_id


class Outgoing(Protocol):
    """A message a pipeline has rendered and addressed, ready for the outbox."""

    @property
    def channel(self) -> str: ...
    @property
    def message(self) -> SupportsPayload | Mapping[str, Any]: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def source(self) -> Mapping[str, Any]: ...
    @property
    def kind(self) -> str: ...


OutgoingT = TypeVar("OutgoingT", bound=Outgoing)


async def enqueue_all(
    conn: AsyncConnection,
    items: Iterable[OutgoingT],
    *,
    workspace: str,
    pipeline: str,
    run_id: int | None,
) -> list[OutgoingT]:
    """Enqueue a run's messages in the caller's transaction; return those that were new.

    With a ``run_id``, first fence the run (``schedule.runs.fence_run``): a run declared dead
    meanwhile raises :class:`~ml_connector.errors.RunSupersededError` and the caller's
    transaction — these messages and the cursor beside them — rolls back.
    """
    if run_id is not None:
        await fence_run(conn, run_id)
    queued: list[OutgoingT] = []
    for item in items:
        new_id = await enqueue(
            conn,
            workspace=workspace,
            channel=item.channel,
            message=item.message,
            dedupe_key=item.dedupe_key,
            source=item.source,
            pipeline=pipeline,
            run_id=run_id,
            kind=item.kind,
        )
        if new_id is not None:
            queued.append(item)
    return queued


async def ensure_channel(conn: AsyncConnection, workspace: str, channel: str) -> None:
    """Give a channel its pacing row (next post: now) unless it has one."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(channel_pacing)
        .values(workspace=workspace, channel=channel, next_post_at=0.0)
        .on_conflict_do_nothing(index_elements=["workspace", "channel"])
    )


async def queue_depth(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Open messages per (workspace, channel), for status pages and metrics."""
    rows = await conn.execute(
        sa.select(outbox.c.workspace, outbox.c.channel, sa.func.count())
        .where(outbox.c.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(outbox.c.workspace, outbox.c.channel)
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def dead_letter_count(conn: AsyncConnection, pipeline: str | None = None) -> int:
    query = sa.select(sa.func.count()).where(outbox.c.status == Status.DEAD.value)
    if pipeline is not None:
        query = query.where(outbox.c.pipeline == pipeline)
    return int(await conn.scalar(query) or 0)
