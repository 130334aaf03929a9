"""Failing polls: their own backoff, one alert after N failures, auto-pause after M.

A poll (one schedule: pipeline, company, stream) that fails gets a ``poll_health`` row
counting its failures in a row. While the row says it is backing off, its slots are skipped,
so a dead company costs one attempt per backoff period rather than one per slot, and the
backoff grows exponentially from ``scheduling.backoff_base`` to ``backoff_max`` with equal
jitter (half the ceiling fixed, half random: AWS architecture blog, "Exponential Backoff And
Jitter"), so polls that failed together do not retry together. At ``alert_after`` failures one
alert is queued to the alerts channel — its dedupe key names the failure streak, so it is
queued once per streak whatever the number of processes or restarts — and at ``pause_after``
the company is paused through ``store.companies`` (reason ``failing``, as Airbyte disables a
connection after repeated failed syncs) with a second alert saying so. A success deletes the
row; so does a resume (the scheduler sees the company no longer paused), so a resumed company
starts again from zero failures.

All of one failure's changes — the row, the alert, the pause — commit in one transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import backoff, clock
from ml_connector.companies import sage100_streams
from ml_connector.config import (
    Config,
    IntacctConnection,
    IntacctPipeline,
    Sage100Connection,
    Sage100Pipeline,
    SchedulingConfig,
)
from ml_connector.delivery.outbox import enqueue
from ml_connector.redact import redact_text
from ml_connector.slack.blocks import alert_message
from ml_connector.store import companies
from ml_connector.store.tables import poll_health

ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Poll:
    """One schedule's polls: ``key`` is the schedule's name (its slots and runs use it)."""

    key: str
    pipeline: str
    company: str
    stream: str | None


@dataclass(frozen=True, slots=True)
class Failing:
    poll: Poll
    failures: int
    first_failed_at: float
    last_failed_at: float
    retry_at: float
    last_error: str | None = None
    alerted_at: float | None = None
    paused_at: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a poll's alerts go, and how they name it."""

    workspace: str
    channel: str
    what: str


def company_of(config: Config, pipeline: str) -> str:
    """The company a pipeline polls: the Sage 100 company code, or the Intacct entity (or
    company id for the top level)."""
    settings = config.pipelines[pipeline]
    connection = config.connections[settings.connection]
    if isinstance(connection, Sage100Connection):
        return connection.company or settings.connection
    assert isinstance(connection, IntacctConnection)
    return connection.entity_id or connection.company_id


def target_of(config: Config, poll: Poll) -> Target:
    settings = config.pipelines[poll.pipeline]
    if isinstance(settings, IntacctPipeline):
        what = f"Sage Intacct {poll.company} (pipeline {poll.pipeline})"
        return Target(settings.workspace, settings.channels.alerts, what)
    assert isinstance(settings, Sage100Pipeline)
    # the company's own channels (``[pipelines.X.company.CODE]``) where it has them
    streams = sage100_streams(settings, poll.company)
    stream = poll.stream if poll.stream in streams else next(iter(streams))
    channel = settings.alerts_channel or streams[stream].channel
    what = f"Sage 100 {poll.company} {stream} (pipeline {poll.pipeline})"
    return Target(settings.workspace, channel, what)


def backoff_seconds(failures: int, settings: SchedulingConfig, fraction: float) -> float:
    """Wait after the ``failures``-th failure in a row: equal jitter over the ceiling."""
    ceiling = backoff.ceiling(failures, settings.backoff_base, settings.backoff_max)
    return ceiling / 2 + ceiling / 2 * fraction


def after_failure(
    previous: Failing | None,
    poll: Poll,
    error: str,
    now: float,
    settings: SchedulingConfig,
    fraction: float,
) -> tuple[Failing, bool, bool]:
    """The new state, and whether to alert and whether to pause now. Pure."""
    failures = 1 if previous is None else previous.failures + 1
    state = Failing(
        poll,
        failures,
        first_failed_at=now if previous is None else previous.first_failed_at,
        last_failed_at=now,
        retry_at=now + backoff_seconds(failures, settings, fraction),
        last_error=redact_text(error)[:ERROR_CHARS],
        alerted_at=None if previous is None else previous.alerted_at,
        paused_at=None if previous is None else previous.paused_at,
    )
    alert = state.alerted_at is None and failures >= settings.alert_after
    pause = (
        settings.pause_after is not None
        and state.paused_at is None
        and failures >= settings.pause_after
    )
    if alert:
        state = replace(state, alerted_at=now)
    if pause:
        state = replace(state, paused_at=now)
    return state, alert, pause


class PollHealth:
    """The failing polls of this process's schedules, kept in memory between ticks.

    ``refresh`` reloads them (other processes run some of the slots) and forgets the streaks
    of companies an operator resumed; ``skip_reason`` is then a lookup, not a query.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        config: Config,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.config = config
        self.settings = config.scheduling
        self._rng = rng
        self.failing: dict[str, Failing] = {}
        self.paused: Mapping[tuple[str, str], companies.Pause] = {}

    async def refresh(self) -> None:
        async with self.engine.begin() as conn:
            rows = await load(conn)
            self.paused = await companies.paused(conn)
            resumed = [
                f.poll.key
                for f in rows.values()
                if f.paused_at is not None and (f.poll.pipeline, f.poll.company) not in self.paused
            ]
            if resumed:
                await conn.execute(poll_health.delete().where(poll_health.c.key.in_(resumed)))
                for key in resumed:
                    del rows[key]
        self.failing = rows

    def skip_reason(self, poll: Poll, start: float) -> str | None:
        """Why this poll must not run at ``start``, or ``None``."""
        pause = self.paused.get((poll.pipeline, poll.company))
        if pause is not None:
            who = "after repeated failures" if pause.reason == "failing" else "by an operator"
            return f"company {poll.company} is paused {who}"
        failing = self.failing.get(poll.key)
        if failing is not None and start < failing.retry_at:
            wait = timedelta(seconds=round(failing.retry_at - start))
            return f"backing off after {failing.failures} failures in a row ({wait} to go)"
        return None

    async def succeeded(self, poll: Poll) -> None:
        if poll.key not in self.failing:
            return
        async with self.engine.begin() as conn:
            await conn.execute(poll_health.delete().where(poll_health.c.key == poll.key))
        self.failing.pop(poll.key, None)

    async def failed(self, poll: Poll, error: str) -> Failing:
        now = clock.now()
        async with self.engine.begin() as conn:
            previous = await load_one(conn, poll.key)
            state, alert, pause = after_failure(
                previous, poll, error, now, self.settings, self._rng()
            )
            target = target_of(self.config, poll)
            if alert:
                await _alert(conn, target, state, paused=False)
            if pause:
                await companies.pause(
                    conn,
                    poll.pipeline,
                    poll.company,
                    reason="failing",
                    note=f"{state.failures} failed polls in a row: {state.last_error}",
                )
                await _alert(conn, target, state, paused=True)
            await _save(conn, state)
        self.failing[poll.key] = state
        return state


async def load(conn: AsyncConnection) -> dict[str, Failing]:
    return {f.poll.key: f for f in map(_from_row, await conn.execute(sa.select(poll_health)))}


async def load_one(conn: AsyncConnection, key: str) -> Failing | None:
    query = sa.select(poll_health).where(poll_health.c.key == key).with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _from_row(row)


def _from_row(row: sa.Row[tuple[object, ...]]) -> Failing:
    m = row._mapping
    return Failing(
        Poll(m["key"], m["pipeline"], m["company"], m["stream"]),
        failures=int(m["failures"]),
        first_failed_at=float(m["first_failed_at"]),
        last_failed_at=float(m["last_failed_at"]),
        retry_at=float(m["retry_at"]),
        last_error=m["last_error"],
        alerted_at=m["alerted_at"],
        paused_at=m["paused_at"],
    )


async def _save(conn: AsyncConnection, state: Failing) -> None:
    values = {
        "key": state.poll.key,
        "pipeline": state.poll.pipeline,
        "company": state.poll.company,
        "stream": state.poll.stream,
        "failures": state.failures,
        "first_failed_at": state.first_failed_at,
        "last_failed_at": state.last_failed_at,
        "retry_at": state.retry_at,
        "last_error": state.last_error,
        "alerted_at": state.alerted_at,
        "paused_at": state.paused_at,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(poll_health).values(values)
    changed = {k: v for k, v in values.items() if k != "key"}
    await conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_=changed))


async def _alert(conn: AsyncConnection, target: Target, state: Failing, *, paused: bool) -> None:
    since = clock.to_datetime(state.first_failed_at)
    facts = [
        ("Failed in a row", str(state.failures)),
        ("Failing since", f"{since:%Y-%m-%d %H:%M} UTC"),
    ]
    if paused:
        title = f"Polls paused: {target.what}"
        summary = (
            f"{state.failures} polls in a row failed, so this company is paused and no longer "
            "polled; its cursor is kept. Fix the cause, then run "
            f"`ml-connector companies resume {state.poll.pipeline} {state.poll.company}`."
        )
    else:
        retry = clock.to_datetime(state.retry_at)
        title = f"Polls failing: {target.what}"
        summary = (
            f"{state.failures} polls in a row failed; it is retried with backoff "
            f"(next at {retry:%H:%M} UTC) and the other companies are not held up."
        )
    message = alert_message(
        title,
        severity="critical" if paused else "warning",
        summary=summary,
        facts=facts,
        lines=[f"Last error: {state.last_error}"] if state.last_error else [],
    )
    kind = "paused" if paused else "failing"
    await enqueue(
        conn,
        workspace=target.workspace,
        channel=target.channel,
        message=message,
        dedupe_key=f"poll-{kind}:{state.poll.key}:{state.first_failed_at!r}",
        source={
            "system": "ml-connector",
            "poll": state.poll.key,
            "company": state.poll.company,
            "failures": state.failures,
        },
        pipeline=state.poll.pipeline,
        kind=f"poll.{kind}",
    )
