"""The delivery worker: claims due channels, posts their messages in order, at the pace.

One task per leased channel posts that channel's messages one at a time and sleeps until the
channel's ``next_post_at``. A dispatcher claims more channels as they come due, up to
``max_channels`` at once. Everything a restart or another process needs to know — pace,
leases, attempts, unknown sends — is in the database, never only in memory.

Outcomes of a post, and what follows:

=============  ==========================================================================
delivered      ``ts`` stored; next post to the channel one interval after the answer
rate_limited   the channel waits Retry-After; the attempt is not counted against the item
transient      backoff with full jitter, then dead letter after max attempts or max age
ambiguous      ``unknown``: reconciled before anything else is posted to the channel; if
               Slack does not have it, the transient rule above decides: retry or dead
permanent      dead letter at once, with Slack's reason
credentials    the workspace is held; its messages resume when the installation works
=============  ==========================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.backoff import full_jitter
from ml_connector.delivery import claims
from ml_connector.delivery.audit import record_attempt
from ml_connector.delivery.holds import (
    held_workspaces,
    hold_reason,
    hold_workspace,
    resume_workspace,
)
from ml_connector.delivery.metadata import message_metadata, namespace, outbox_id_of
from ml_connector.delivery.metrics import DELIVERIES, SLACK_429
from ml_connector.delivery.outbox import Status
from ml_connector.delivery.ports import SlackGateway
from ml_connector.delivery.settings import DeliverySettings
from ml_connector.errors import (
    AmbiguousError,
    CredentialsError,
    ExternalError,
    RateLimitedError,
)
from ml_connector.logging import get_logger
from ml_connector.store.outage import OutageWatch, describe, outage_reason
from ml_connector.store.tables import outbox

log = get_logger("ml_connector.delivery")

HISTORY = "conversations.history"
DB_RETRY_SECONDS = 2.0  # the mean first wait after a database failure
DB_RETRY_CAP = 10.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"


class DeliveryWorker:
    """Posts outbox messages to Slack; any number may run against one database."""

    def __init__(
        self,
        engine: AsyncEngine,
        gateway: SlackGateway,
        settings: DeliverySettings | None = None,
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.settings = settings or DeliverySettings()
        self.owner = owner or default_owner()
        self._rng = rng or random.Random()
        self._ns: str | None = None
        self._held: set[str] = set()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._watches: dict[tuple[str, str], OutageWatch] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        # Do a post's bookkeeping this long before its slot, so the request leaves on time.
        self._prepare_ahead = min(0.1, self.settings.post_interval / 2)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set or ``request_stop``; then finish posts, give back leases."""
        watcher = asyncio.create_task(self._watch(stop)) if stop is not None else None
        last_probe = 0.0
        # A database outage (disk full, failover, a dropped connection) must not stop
        # delivery: nothing is lost, the next loop claims again from what is stored. The
        # start-up reads are inside for the same reason: `serve` may start mid-outage.
        watch = OutageWatch("delivery", base=DB_RETRY_SECONDS / 2, cap=DB_RETRY_CAP)
        started = False
        try:
            while not self._stopping.is_set():
                async with watch.guard(self._stopping):
                    if not started:
                        self._ns = await namespace(self.engine)
                        async with self.engine.begin() as conn:
                            self._held = set(await held_workspaces(conn))
                        started = True
                    now = clock.now()
                    if now - last_probe >= self.settings.probe_interval:
                        await self._probe_held()
                        last_probe = now
                    await self._dispatch(now)
                    await self._idle(now)
        finally:
            self._stopping.set()
            if watcher is not None:
                watcher.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            try:
                async with self.engine.begin() as conn:
                    await claims.release_all(conn, self.owner)
            except Exception:
                # Leases left behind expire by themselves (lease_seconds); stopping goes on.
                log.exception("could not release channel leases on stopping")

    def request_stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """New messages were enqueued in this process: look now rather than at the next poll."""
        self._wake.set()

    async def run_until_idle(self, timeout: float = 60.0) -> bool:
        """Run until no message is waiting (held and dead ones aside); True if that happened."""

        async def idle(conn: AsyncConnection) -> bool:
            return await active_count(conn) == 0

        return await self.run_until(idle, timeout)

    async def run_until_settled(self, ids: Collection[int], timeout: float = 60.0) -> bool:
        """Run until none of ``ids`` is waiting (delivered, dead or held); True if so."""

        async def settled(conn: AsyncConnection) -> bool:
            return await active_count(conn, ids) == 0

        return await self.run_until(settled, timeout)

    async def run_until(
        self, done: Callable[[AsyncConnection], Awaitable[bool]], timeout: float
    ) -> bool:
        """Deliver until ``done`` says so or ``timeout`` passes; True if ``done`` said so."""
        runner = asyncio.create_task(self.run())
        deadline = time.monotonic() + timeout
        finished = False
        try:
            while time.monotonic() < deadline and not runner.done():
                async with self.engine.connect() as conn:
                    if await done(conn):
                        finished = True
                        break
                await asyncio.sleep(0.05)
        finally:
            self.request_stop()
            await runner
        return finished

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.request_stop()

    async def _idle(self, now: float) -> None:
        wait = self.settings.idle_poll
        async with self.engine.connect() as conn:
            due = await claims.earliest_due(conn, frozenset(self._held))
        if due is not None and len(self._tasks) < self.settings.max_channels:
            wait = min(wait, max(due - now, 0.005))
        self._wake.clear()
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
        waiters.extend(self._tasks.values())
        _done, _pending = await asyncio.wait(
            waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        waiters[0].cancel()

    async def _dispatch(self, now: float) -> None:
        for key in [k for k, task in self._tasks.items() if task.done()]:
            self._tasks.pop(key)
        free = self.settings.max_channels - len(self._tasks)
        if free <= 0:
            return
        async with self.engine.begin() as conn:
            claimed = await claims.claim_due_channels(
                conn,
                owner=self.owner,
                now=now,
                lease_seconds=self.settings.lease_seconds,
                limit=free,
                exclude_workspaces=frozenset(self._held),
                exclude_channels=frozenset(self._tasks),
            )
        for workspace, channel in claimed:
            self._tasks[(workspace, channel)] = asyncio.create_task(
                self._serve_channel(workspace, channel), name=f"deliver {channel}"
            )

    # -- one channel -------------------------------------------------------------------------

    async def _serve_channel(self, workspace: str, channel: str) -> None:
        deadline = clock.now() + self.settings.channel_hold
        # Kept across the channel's tasks, so an outage that only its writes hit (a full
        # PostgreSQL disk lets claims through) is said once and backed off, not re-dispatched
        # at once with a line each time.
        watch = self._watches.get((workspace, channel))
        if watch is None:
            watch = self._watches[(workspace, channel)] = OutageWatch(
                f"delivery to {channel}", base=DB_RETRY_SECONDS / 2, cap=DB_RETRY_CAP
            )
        try:
            while not self._stopping.is_set():
                wait = await self._step(workspace, channel)
                watch.succeeded()
                if wait is None or clock.now() + wait > deadline:
                    break
                if wait > self._prepare_ahead:
                    await self._sleep(wait - self._prepare_ahead)
        except Exception as exc:
            backoff = watch.failed(exc)
            if backoff is None:
                log.exception("delivery step failed", workspace=workspace, channel=channel)
            else:
                # The task (its lease with it) waits here: the channel is not dispatched at once.
                await self._sleep(backoff)
        finally:
            try:
                async with self.engine.begin() as conn:
                    await claims.release_lease(conn, workspace, channel, self.owner)
            except Exception as exc:
                # Disk full or a database blip: the lease stays ours, and the next dispatch
                # claims our own channel again (claims accept a lease held by the claimer),
                # so the channel waits one retry, not until the lease expires.
                if watch.failed(exc) is None:
                    log.warning(
                        "could not release a channel lease; claiming it again",
                        channel=channel,
                        exc_info=True,
                    )
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    @contextlib.asynccontextmanager
    async def _keep_lease(self, workspace: str, channel: str) -> AsyncIterator[None]:
        """Renew the channel lease while a Slack call or a wait for its budget is under way.

        Another worker takes over a channel whose lease has expired and reconciles its
        in-flight send at once; if our post were still on the wire, that could post it twice.
        """
        every = self.settings.lease_seconds / 3

        async def renew() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    async with self.engine.begin() as conn:
                        until = clock.now() + self.settings.lease_seconds
                        kept = await claims.renew_lease(conn, workspace, channel, self.owner, until)
                except Exception as exc:
                    log.warning(
                        "could not renew a channel lease",
                        channel=channel,
                        error=describe(exc),
                        exc_info=outage_reason(exc) is None,
                    )
                    continue
                if not kept:
                    log.warning("lost a channel lease during a slack call", channel=channel)
                    return

        renewer = asyncio.create_task(renew(), name=f"lease {channel}")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _step(self, workspace: str, channel: str) -> float | None:
        """Do the next thing the channel needs; return seconds to wait, or None to let go."""
        now = clock.now()
        async with self.engine.begin() as conn:
            until = now + self.settings.lease_seconds
            if not await claims.renew_lease(conn, workspace, channel, self.owner, until):
                return None
            rows = (
                await conn.execute(
                    sa.select(outbox)
                    .where(
                        outbox.c.workspace == workspace,
                        outbox.c.channel == channel,
                        outbox.c.status.in_(claims.ACTIVE),
                    )
                    .order_by(outbox.c.id)
                    .limit(50)
                )
            ).all()
            if not rows:
                return None
            pace = await claims.next_post_at(conn, workspace, channel)
            unknown = [r for r in rows if r.status in (Status.UNKNOWN, Status.IN_FLIGHT)]
            head = rows[0]
            if pace - now > self._prepare_ahead or (unknown and pace > now):
                return pace - now
            if not unknown:
                if head.not_before > max(now, pace):
                    await claims.set_next_post_at(conn, workspace, channel, head.not_before)
                    return None
                await conn.execute(
                    outbox.update()
                    .where(outbox.c.id == head.id, outbox.c.status == Status.PENDING.value)
                    .values(
                        status=Status.IN_FLIGHT.value,
                        attempts=outbox.c.attempts + 1,
                        lease_owner=self.owner,
                        first_unknown_at=sa.func.coalesce(outbox.c.first_unknown_at, now),
                    )
                )
        if unknown:
            return await self._reconcile(workspace, channel, unknown)
        # Prepared ahead of the pace: the request leaves on time, not after the bookkeeping.
        wait = pace - clock.now()
        if wait > 0:
            await self._sleep(wait)
            if self._stopping.is_set():
                await self._unprepare(head.id)
                return None
        return await self._post(workspace, channel, head)

    async def _unprepare(self, outbox_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == outbox_id,
                    outbox.c.status == Status.IN_FLIGHT.value,
                    outbox.c.lease_owner == self.owner,
                )
                .values(status=Status.PENDING.value, attempts=outbox.c.attempts - 1)
            )

    async def _post(self, workspace: str, channel: str, item: sa.Row[Any]) -> float | None:
        assert self._ns is not None
        message = item.message
        started = clock.now()
        error: ExternalError | None = None
        ts: str | None = None
        try:
            async with self._keep_lease(workspace, channel):
                ts = await self.gateway.post_message(
                    workspace,
                    channel,
                    text=message["text"],
                    blocks=message.get("blocks") or [],
                    metadata=message_metadata(self._ns, item.id),
                )
        except ExternalError as exc:
            error = exc
        except Exception as exc:  # a bug or an unmapped library error: retry, never lose it
            log.exception("unexpected error posting", outbox_id=item.id)
            error = AmbiguousError(f"unexpected {type(exc).__name__}: {exc}")
        done = clock.now()
        async with self.engine.begin() as conn:
            wait = await self._settle(conn, workspace, channel, item, started, done, ts, error)
        if isinstance(error, CredentialsError):
            await self.gateway.mark_unusable(workspace, _reason(error))
        return wait

    async def _settle(
        self,
        conn: AsyncConnection,
        workspace: str,
        channel: str,
        item: sa.Row[Any],
        started: float,
        done: float,
        ts: str | None,
        error: ExternalError | None,
    ) -> float | None:
        s = self.settings
        mine = sa.and_(
            outbox.c.id == item.id,
            outbox.c.status == Status.IN_FLIGHT.value,
            outbox.c.lease_owner == self.owner,
        )
        outcome = "delivered" if error is None else error.kind
        DELIVERIES.labels(outcome).inc()
        await record_attempt(
            conn,
            item.id,
            at=started,
            outcome=outcome,
            worker=self.owner,
            http_status=error.http_status if error else 200,
            slack_error=error.code if error else None,
            slack_ts=ts,
            duration_ms=int((done - started) * 1000),
            detail=error.message if error else None,
        )
        next_post = done + s.post_interval
        release: bool = False
        values: dict[str, Any]
        if error is None:
            values = {"status": Status.DELIVERED.value, "slack_ts": ts, "delivered_at": done}
            log.info(
                "posted to slack",
                channel=channel,
                ts=ts,
                outbox_id=item.id,
                pipeline=item.pipeline,
            )
        elif isinstance(error, RateLimitedError):
            SLACK_429.labels("chat.postMessage").inc()
            pause = done + (error.retry_after or s.post_interval)
            values = {"status": Status.PENDING.value, "attempts": outbox.c.attempts - 1}
            await claims.set_next_post_at(conn, workspace, channel, pause, paused_until=pause)
            await conn.execute(outbox.update().where(mine).values(**values))
            log.warning("slack rate limited", channel=channel, retry_after=error.retry_after)
            return pause - clock.now()
        elif isinstance(error, CredentialsError):
            values = {"status": Status.PENDING.value, "attempts": outbox.c.attempts - 1}
            await conn.execute(outbox.update().where(mine).values(**values))
            await self._hold(conn, workspace, error)
            return None
        elif isinstance(error, AmbiguousError):
            values = {"status": Status.UNKNOWN.value, "last_error": error.message}
            next_post = max(next_post, done + s.reconcile_delay)
        elif error.transient:
            values = self._retry_or_dead(item.attempts + 1, item.created_at, done, error.message)
            if values["status"] == Status.PENDING.value:
                next_post = max(next_post, values["not_before"])
                release = values["not_before"] - done > 1.0
        else:
            values = {"status": Status.DEAD.value, "last_error": error.message}
            log.error(
                "slack refused a message; dead-lettered",
                outbox_id=item.id,
                error=error.code,
                channel=channel,
            )
        await conn.execute(outbox.update().where(mine).values(**values))
        await claims.set_next_post_at(conn, workspace, channel, next_post)
        return None if release else max(next_post - clock.now(), 0.0)

    def _retry_or_dead(
        self, attempts: int, created_at: float, done: float, error: str
    ) -> dict[str, Any]:
        """The dead-letter rule for a send that failed but may be tried again.

        ``attempts`` counts the failed one. Past the attempt or age limit the item is dead;
        otherwise it waits a full-jitter backoff before its next turn.
        """
        s = self.settings
        too_old = done - created_at > s.max_age
        if attempts >= s.max_attempts or too_old:
            why = "too old" if too_old else f"{attempts} attempts"
            return {"status": Status.DEAD.value, "last_error": f"{why}: {error}"}
        retry_at = done + full_jitter(attempts, s.backoff_base, s.backoff_max, self._rng)
        return {"status": Status.PENDING.value, "not_before": retry_at, "last_error": error}

    async def _hold(self, conn: AsyncConnection, workspace: str, error: ExternalError) -> None:
        """Hold the workspace's messages: a revoked token must not burn their attempts."""
        held = await hold_workspace(conn, workspace, f"installation unusable: {_reason(error)}")
        self._held.add(workspace)
        log.error(
            "slack installation unusable; holding its messages",
            workspace=workspace,
            reason=_reason(error),
            held=held,
        )

    # -- reconciliation ----------------------------------------------------------------------

    async def _reconcile(
        self, workspace: str, channel: str, unknown: Sequence[sa.Row[Any]]
    ) -> float | None:
        """Ask Slack once which of the channel's unknown sends arrived, by the ids in metadata."""
        assert self._ns is not None
        s = self.settings
        now = clock.now()
        latest = max(r.first_unknown_at or now for r in unknown)
        settle_at = latest + s.reconcile_delay
        if any(r.status == Status.IN_FLIGHT for r in unknown):
            # a dead worker's send; its request has timed out long before its lease expired
            settle_at = now
        if now < settle_at:
            return settle_at - now
        oldest = min(r.first_unknown_at or now for r in unknown) - s.reconcile_margin
        wanted = {r.id for r in unknown}
        found: dict[int, str] = {}
        cursor: str | None = None
        while True:
            async with self.engine.begin() as conn:
                wait_until = await claims.take_budget(
                    conn, workspace, HISTORY, clock.now(), s.history_interval
                )
                if wait_until is not None and cursor is None:
                    await claims.set_next_post_at(conn, workspace, channel, wait_until)
                    return None
            if wait_until is not None:
                # Part way through the pages: starting over later would spend the budget on
                # the first page again and never reach the last one. Wait for it here.
                if not await self._wait_keeping_lease(workspace, channel, wait_until):
                    return None
                continue
            try:
                async with self._keep_lease(workspace, channel):
                    page = await self.gateway.history(
                        workspace, channel, oldest=f"{max(oldest, 0):.6f}", cursor=cursor
                    )
            except RateLimitedError as exc:
                SLACK_429.labels(HISTORY).inc()
                until = clock.now() + (exc.retry_after or s.history_interval)
                async with self.engine.begin() as conn:
                    await claims.push_budget(conn, workspace, HISTORY, until)
                    if cursor is None:
                        await claims.set_next_post_at(conn, workspace, channel, until)
                        return None
                if not await self._wait_keeping_lease(workspace, channel, until):
                    return None
                continue
            except CredentialsError as exc:
                async with self.engine.begin() as conn:
                    await self._hold(conn, workspace, exc)
                await self.gateway.mark_unusable(workspace, _reason(exc))
                return None
            except ExternalError as exc:
                log.warning("reconciliation failed; will retry", channel=channel, error=str(exc))
                async with self.engine.begin() as conn:
                    await claims.set_next_post_at(
                        conn, workspace, channel, clock.now() + s.history_interval
                    )
                return None
            for message in page.messages:
                outbox_id = outbox_id_of(message, self._ns)
                if (
                    outbox_id is not None
                    and outbox_id in wanted
                    and isinstance(message.get("ts"), str)
                ):
                    found[outbox_id] = message["ts"]
            if len(found) == len(wanted) or not page.next_cursor:
                break
            cursor = page.next_cursor
        done = clock.now()
        async with self.engine.begin() as conn:
            for row in unknown:
                ts = found.get(row.id)
                outcome = "reconciled_found" if ts else "reconciled_missing"
                if ts:
                    log.info(
                        "posted to slack (found after an ambiguous send)",
                        channel=channel,
                        ts=ts,
                        outbox_id=row.id,
                        pipeline=row.pipeline,
                    )
                DELIVERIES.labels(outcome).inc()
                await record_attempt(
                    conn, row.id, at=done, outcome=outcome, worker=self.owner, slack_ts=ts
                )
                values: dict[str, Any] = (
                    {"status": Status.DELIVERED.value, "slack_ts": ts, "delivered_at": done}
                    if ts
                    else self._retry_or_dead(
                        row.attempts,
                        row.created_at,
                        done,
                        f"not in the channel after an ambiguous send: {row.last_error}",
                    )
                )
                await conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id, outbox.c.status == row.status)
                    .values(**values)
                )
        log.info("reconciled", channel=channel, found=len(found), missing=len(wanted) - len(found))
        return 0.0

    async def _wait_keeping_lease(self, workspace: str, channel: str, until: float) -> bool:
        """Sleep until ``until`` holding the channel; False if stopping or the lease is gone."""
        async with self.engine.begin() as conn:
            lease_until = until + self.settings.lease_seconds
            if not await claims.renew_lease(conn, workspace, channel, self.owner, lease_until):
                return False
        async with self._keep_lease(workspace, channel):
            await self._sleep(until - clock.now())
        return not self._stopping.is_set()

    # -- held workspaces ---------------------------------------------------------------------

    async def _probe_held(self) -> None:
        async with self.engine.connect() as conn:
            held = set(await held_workspaces(conn)) | self._held
        for workspace in held:
            try:
                ok = await self.gateway.usable(workspace) or await self.gateway.probe(workspace)
            except ExternalError:
                ok = False
            async with self.engine.begin() as conn:
                if ok:
                    resumed = await resume_workspace(conn, workspace)
                    self._held.discard(workspace)
                    log.info(
                        "slack installation usable again", workspace=workspace, resumed=resumed
                    )
                else:
                    # Messages queued since the hold join it, with the reason first recorded.
                    reason = await hold_reason(conn, workspace) or "installation unusable"
                    await hold_workspace(conn, workspace, reason)
                    self._held.add(workspace)


def _reason(error: ExternalError) -> str:
    return error.code or error.message


async def active_count(conn: AsyncConnection, ids: Collection[int] | None = None) -> int:
    """Messages waiting to be posted (held ones aside), of ``ids`` if given."""
    query = sa.select(sa.func.count()).where(outbox.c.status.in_(claims.ACTIVE))
    if ids is not None:
        query = query.where(outbox.c.id.in_(list(ids)))
    return int(await conn.scalar(query) or 0)
