"""Group commit: one writer task commits, in one transaction, all that arrived meanwhile.

On SQLite every write takes the one database lock. If each request of a burst wrote its own
transaction, the requests would wait in line, and their answers would be late (Slack's three
seconds, Intacct's one). So requests hand their items to one writer instead. The writer takes
everything that arrived while the previous transaction ran, up to ``max_batch`` items, writes
it in one transaction and answers each request. An idle writer writes at once, and a busy
one spreads the cost of the commit over the whole burst. Items of one batch are written in
arrival order.

If a transaction fails, every request of its batch hears of it (:class:`StoreError`). None
is left waiting. Used by the Slack event ledger (``web/ledger.py``), by the Intacct trigger
intake (``intacct/trigger_store.py``) and by the runs that end (``schedule/runs.py``: a
thousand companies polled at the top of the hour end a thousand runs within a minute).

``on_demand``: the writer is started by the first item and ends when it has written all
there is, so its owner has no task to start or stop (the pipeline runner, made in many
places, ends runs only now and then outside such bursts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ml_connector.errors import StoreError

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Waiting(Generic[ItemT, ResultT]):
    """An item and the answer its request awaits."""

    item: ItemT
    answer: asyncio.Future[ResultT]

    @property
    def gone(self) -> bool:
        """The request went away (its client disconnected): nobody reads this answer."""
        return self.answer.done()


# Writes one batch in one transaction and returns each item's result, in order.
Write = Callable[[Sequence[Waiting[ItemT, ResultT]]], Awaitable[Sequence[ResultT]]]


class GroupCommit(Generic[ItemT, ResultT]):
    """The queue of items and the one task that writes them.

    ``write`` may be called with no items when ``more()`` says there is other work to write
    (the event ledger's handling times, written with the next batch).
    """

    def __init__(
        self,
        write: Write[ItemT, ResultT],
        *,
        max_batch: int,
        task_name: str,
        stopped: str,
        failed: str,
        on_failure: Callable[[Exception, int], None] | None = None,
        more: Callable[[], bool] = lambda: False,
        on_demand: bool = False,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._task_name = task_name
        self._stopped = stopped
        self._failed = failed
        self._on_failure = on_failure
        self._more = more
        self._on_demand = on_demand
        self._pending: list[Waiting[ItemT, ResultT]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name=self._task_name)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None

    @property
    def backlog(self) -> int:
        """Items waiting to be written."""
        return len(self._pending)

    def wake(self) -> None:
        """Have the writer look at ``more()`` soon."""
        self._wake.set()

    async def submit(self, item: ItemT) -> ResultT:
        """The item's result once its batch is committed.

        Raises :class:`StoreError` with ``stopped`` if the writer is not running, and with
        ``failed`` if the transaction failed.
        """
        if self._on_demand and self._writer is None and not self._closing:
            self.start()
        if self._writer is None or self._closing:
            raise StoreError(self._stopped)
        answer: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append(Waiting(item, answer))
        self._wake.set()
        return await answer

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._more():
                await self._write_batch()
            if self._closing:
                return
            if self._on_demand:
                # nothing is left (no await since the check): the next item starts a writer
                self._writer = None
                return

    async def _write_batch(self) -> None:
        batch = self._pending[: self._max_batch]
        self._pending = self._pending[self._max_batch :]
        try:
            results = await self._write(batch)
        except Exception as exc:  # every waiting request must hear of any database failure
            if self._on_failure is not None:
                self._on_failure(exc, len(batch))
            failure = StoreError(f"{self._failed}: {type(exc).__name__}")
            for waiting in batch:
                if not waiting.gone:
                    waiting.answer.set_exception(failure)
            return
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.gone:
                waiting.answer.set_result(result)
