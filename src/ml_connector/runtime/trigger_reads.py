"""The loop that turns queued trigger events into targeted reads, in every `serve` process.

It claims due rows of ``intacct_trigger_reads`` (``intacct.trigger_store``: one worker per row,
whichever process), reads each connection's records in one gateway request
(``intacct.targeted``), and lets the delivery worker know when alerts were queued. It sleeps
until the next row falls due, and at most ``poll`` seconds (rows queued by other processes);
the web handler of this process wakes it at once.

A read that fails transiently is tried again with backoff, five times in all; a permanent
failure or the last attempt drops the rows, logged: the schedule that follows reads the same
records anyway and reports Intacct's error in the alerts channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.backoff import full_jitter
from ml_connector.config import Config, IntacctConnection
from ml_connector.errors import StoreError, TransientError
from ml_connector.intacct import trigger_store
from ml_connector.intacct.gateway import IntacctError
from ml_connector.intacct.pipeline import IntacctPipeline
from ml_connector.intacct.summaries import RecordError
from ml_connector.intacct.targeted import TargetedReader
from ml_connector.intacct.trigger_metrics import TRIGGER_LAG, TRIGGER_READS
from ml_connector.logging import get_logger
from ml_connector.pipeline import Pipeline
from ml_connector.store.outage import OutageWatch
from ml_connector.vault import Vault

log = get_logger("ml_connector.intacct.triggers")

MAX_ATTEMPTS = 5
RETRY_BASE = 2.0
RETRY_CAP = 60.0
PRUNE_EVERY = 600.0


def coalesce_seconds(config: Config, connection: str) -> float:
    settings = config.connections.get(connection)
    if isinstance(settings, IntacctConnection) and settings.triggers is not None:
        return settings.triggers.coalesce_seconds
    return 2.0


class TriggerReadWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        vault: Vault,
        config: Config,
        pipelines: Mapping[str, Pipeline],
        *,
        owner: str,
        on_queued: Callable[[], None] | None = None,
        poll: float = 1.0,
        lease: float = 300.0,
        batch: int = 100,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.config = config
        self.owner = owner
        self.on_queued = on_queued
        self.poll = poll
        self.lease = lease
        self.batch = batch
        grouped: dict[str, list[IntacctPipeline]] = defaultdict(list)
        for pipeline in pipelines.values():
            if isinstance(pipeline, IntacctPipeline):
                grouped[pipeline.connection_name].append(pipeline)
        self.readers = {name: TargetedReader(name, group) for name, group in grouped.items()}
        self._wake = asyncio.Event()
        self._pruned_at = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        watch = OutageWatch("intacct trigger reads")
        while not stop.is_set():
            delay = self.poll
            try:
                async with watch.guard(stop):  # an outage: one warning, backoff, retry
                    await self.run_once()
                    delay = await self._sleep_for()
            except (sa.exc.SQLAlchemyError, OSError, StoreError):
                # Not an outage, yet the queued reads stay queued: try again next poll.
                log.exception("trigger reads failed; retrying")
            self._wake.clear()
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()

    async def _sleep_for(self) -> float:
        due = await trigger_store.next_due(self.engine)
        if due is None:
            return self.poll
        return min(max(due - clock.now(), 0.01), self.poll)

    async def run_once(self) -> int:
        """Claim and read whatever is due now; return how many records were read."""
        now = clock.now()
        if now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            await trigger_store.prune(self.engine, now)
        claimed = await trigger_store.claim(
            self.engine, owner=self.owner, now=now, lease=self.lease, limit=self.batch
        )
        by_connection: dict[str, list[trigger_store.QueuedRead]] = defaultdict(list)
        for item in claimed:
            by_connection[item.connection].append(item)
        for connection, items in by_connection.items():
            await self._read(connection, items)
        return len(claimed)

    async def _read(self, connection: str, items: list[trigger_store.QueuedRead]) -> None:
        coalesce = coalesce_seconds(self.config, connection)
        reader = self.readers.get(connection)
        if reader is None:
            log.warning(
                "trigger events for a connection no intacct pipeline reads; dropped",
                connection=connection,
                records=len(items),
            )
            TRIGGER_READS.labels(outcome="dropped").inc(len(items))
            await trigger_store.finish(self.engine, self.owner, items, coalesce=coalesce)
            return
        started = time.monotonic()
        try:
            outcome = await reader.read(self.engine, self.vault, [i.ref for i in items])
        except (IntacctError, TransientError, RecordError) as exc:
            await self._failed(connection, items, exc)
            return
        await trigger_store.finish(self.engine, self.owner, items, coalesce=coalesce)
        now = clock.now()
        for item in items:
            TRIGGER_LAG.observe(max(now - item.first_event_at, 0.0))
        TRIGGER_READS.labels(outcome="missing").inc(len(outcome.missing))
        TRIGGER_READS.labels(outcome="alerted").inc(len(outcome.queued))
        TRIGGER_READS.labels(outcome="quiet").inc(max(outcome.quiet, 0))
        log.info(
            "trigger read",
            connection=connection,
            records=len(items),
            events=sum(i.events for i in items),
            read=outcome.records_read,
            queued=len(outcome.queued),
            missing=len(outcome.missing),
            seconds=round(time.monotonic() - started, 3),
        )
        if outcome.queued and self.on_queued is not None:
            self.on_queued()

    async def _failed(
        self, connection: str, items: list[trigger_store.QueuedRead], exc: Exception
    ) -> None:
        transient = isinstance(exc, TransientError)
        attempt = max(i.attempts for i in items) + 1
        if transient and attempt < MAX_ATTEMPTS:
            delay = full_jitter(attempt, RETRY_BASE, RETRY_CAP)
            log.warning(
                "trigger read failed; will try again",
                connection=connection,
                attempt=attempt,
                delay=round(delay, 2),
                error=str(exc),
            )
            TRIGGER_READS.labels(outcome="retried").inc(len(items))
            await trigger_store.retry_later(
                self.engine, self.owner, items, when=clock.now() + delay
            )
            return
        log.error(
            "trigger read failed; dropped, the scheduled run will read these records",
            connection=connection,
            records=len(items),
            attempts=attempt,
            error=str(exc),
        )
        TRIGGER_READS.labels(outcome="dropped").inc(len(items))
        await trigger_store.finish(
            self.engine, self.owner, items, coalesce=coalesce_seconds(self.config, connection)
        )
