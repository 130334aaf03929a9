"""The ``slack_events`` table as a group-committed ledger of event ids already seen.

Slack retries an event it thinks was lost with the same ``event_id``; remembering every id in
the database (insert-or-ignore, so two processes agree on who saw it first) is what keeps a
retry from being handled twice. On SQLite every write takes the one database lock, so one
transaction per webhook would put the acknowledgements of a burst in a queue behind each
other. Instead requests hand their ids to one writer task (``store.group_commit``), which
inserts all ids that arrived while the previous batch was being written in a single statement
and tells each request whether its id was new. An idle ledger writes at once; a busy one
amortises the commit over the whole burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.logging import get_logger
from ml_connector.store.group_commit import GroupCommit, Waiting
from ml_connector.store.tables import slack_events

log = get_logger("ml_connector.web")

MAX_BATCH = 500


@dataclass(frozen=True)
class SeenEvent:
    event_id: str
    team_id: str | None
    event_type: str | None


class EventLedger:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._handled: list[str] = []
        self._commits: GroupCommit[SeenEvent, bool] = GroupCommit(
            self._write,
            max_batch=max_batch,
            task_name="slack-event-ledger",
            stopped="the event ledger is not running",
            failed="cannot record slack events",
            on_failure=_log_failure,
            more=lambda: bool(self._handled),
        )

    def start(self) -> None:
        self._commits.start()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        await self._commits.close()

    @property
    def backlog(self) -> int:
        """Ids waiting to be written."""
        return self._commits.backlog

    async def remember(self, event: SeenEvent) -> bool:
        """``True`` the first time this event id is seen anywhere, ``False`` for a retry.

        Raises :class:`StoreError` if the database could not be written.
        """
        return await self._commits.submit(event)

    def mark_handled(self, event_id: str) -> None:
        """Record when handling finished (written with the next batch; best effort)."""
        self._handled.append(event_id)
        self._commits.wake()

    async def _write(self, batch: Sequence[Waiting[SeenEvent, bool]]) -> list[bool]:
        handled, self._handled = self._handled, []
        new_ids = await self._insert([waiting.item for waiting in batch], handled)
        firsts = []
        for waiting in batch:
            if waiting.gone:
                firsts.append(False)  # the request went away (client disconnected)
                continue
            event_id = waiting.item.event_id
            firsts.append(event_id in new_ids)
            new_ids.discard(event_id)  # the same id twice in one batch: the first wins
        return firsts

    async def _insert(self, batch: list[SeenEvent], handled: list[str]) -> set[str]:
        now = clock.now()
        unique = {event.event_id: event for event in batch}
        async with self._engine.begin() as conn:
            new_ids: set[str] = set()
            if unique:
                insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                rows = [
                    {
                        "event_id": event.event_id,
                        "team_id": event.team_id,
                        "event_type": event.event_type,
                        "received_at": now,
                    }
                    for event in unique.values()
                ]
                # executemany: one cached statement, batched into multi-row VALUES by the
                # driver layer ("insertmanyvalues"), so a big batch costs no fresh compile.
                result = await conn.execute(
                    insert(slack_events)
                    .on_conflict_do_nothing(index_elements=["event_id"])
                    .returning(slack_events.c.event_id),
                    rows,
                )
                new_ids = {row[0] for row in result}
            if handled:
                await conn.execute(
                    slack_events.update()
                    .where(slack_events.c.event_id.in_(handled))
                    .values(handled_at=now)
                )
        return new_ids


def _log_failure(exc: Exception, events: int) -> None:
    log.error("cannot record slack event ids", error=exc, events=events)
