"""The ``slack_events`` table as a group-committed ledger of event ids already seen.

Slack retries an event it thinks was lost with the same ``event_id``; remembering every id in
the database (insert-or-ignore, so two processes agree on who saw it first) is what keeps a
retry from being handled twice. On SQLite every write takes the one database lock, so one
transaction per webhook would put the acknowledgements of a burst in a queue behind each
other. Instead requests hand their ids to one writer task, which inserts all ids that
arrived while the previous batch was being written in a single statement and tells each
request whether its id was new. An idle ledger writes at once; a busy one amortises the
commit over the whole burst.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.errors import StoreError
from ml_connector.logging import get_logger
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
        self._max_batch = max_batch
        self._seen: list[tuple[SeenEvent, asyncio.Future[bool]]] = []
        self._handled: list[str] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name="slack-event-ledger")

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None

    @property
    def backlog(self) -> int:
        """Ids waiting to be written."""
        return len(self._seen)

    async def remember(self, event: SeenEvent) -> bool:
        """``True`` the first time this event id is seen anywhere, ``False`` for a retry.

        Raises :class:`StoreError` if the database could not be written.
        """
        if self._writer is None or self._closing:
            raise StoreError("the event ledger is not running")
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._seen.append((event, answer))
        self._wake.set()
        return await answer

    def mark_handled(self, event_id: str) -> None:
        """Record when handling finished (written with the next batch; best effort)."""
        self._handled.append(event_id)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._seen or self._handled:
                await self._write_batch()
            if self._closing:
                return

    async def _write_batch(self) -> None:
        batch, self._seen = self._seen[: self._max_batch], self._seen[self._max_batch :]
        handled, self._handled = self._handled, []
        try:
            new_ids = await self._write(batch, handled)
        except Exception as exc:  # any database failure must reach every waiting request
            log.error("cannot record slack event ids", error=exc, events=len(batch))
            failure = StoreError(f"cannot record slack events: {type(exc).__name__}")
            for _event, answer in batch:
                if not answer.done():
                    answer.set_exception(failure)
            return
        for event, answer in batch:
            if answer.done():
                continue  # the request went away (client disconnected)
            first = event.event_id in new_ids
            new_ids.discard(event.event_id)  # the same id twice in one batch: the first wins
            answer.set_result(first)

    async def _write(
        self, batch: list[tuple[SeenEvent, asyncio.Future[bool]]], handled: list[str]
    ) -> set[str]:
        now = clock.now()
        unique = {event.event_id: event for event, _answer in batch}
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
