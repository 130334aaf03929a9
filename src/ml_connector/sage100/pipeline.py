"""The Sage 100 → Slack pipeline: poll each stream from its cursor, queue what is news.

One run polls the requested stream (or every enabled one). For each stream:

1. read the agent from ``cursor − overlap`` (or ``--since``) in ``(stamp, record_key)``
   order, following pages to the end (or to ``--until``);
2. in ONE transaction per part of at most ``window_records`` records (the whole read, unless
   it is a large backlog such as ``run --since`` over months): load the cursor and the stored
   fingerprints, decide what is news (:mod:`.decide.plan`), route and render it
   (:mod:`.route.dispatch`), enqueue the outbox rows, store the new fingerprints and advance
   the cursor. Parts keep the memory of a read bounded; a part ends at a page boundary, so
   the cursor it leaves is exactly where the next part's records begin.

Nothing is written before a part's read is complete, so an agent that goes down mid-read, or
a process killed before a commit, leaves the cursor where the last committed part left it and
the next run reads from there again; the dedupe keys and fingerprints make that repeat post
nothing twice.
Streams are independent: one failing does not hold back the others (the run is "partial").

A stream's first run starts at the agent's current time (less the overlap) rather than
posting the company's whole history; ``run --since`` reads history on purpose, and the
digest rule keeps even that to one message per channel and part.

Sage 100 stamps carry no zone: they are the wall-clock time of the Sage 100 server. The
pipeline's ``timezone`` is taken to be that server's zone; it names the zone in messages
and converts an aware ``--since``/``--until`` (a naive one is already server-local).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.companies import (
    Company,
    pipeline_companies,
    sage100_currency,
    sage100_streams,
    serves_every_company,
)
from ml_connector.config import Config, Sage100Connection, Sage100Stream
from ml_connector.config import Sage100Pipeline as Sage100Settings
from ml_connector.delivery.outbox import enqueue_all
from ml_connector.errors import ConfigError, ExternalError, VaultError
from ml_connector.logging import get_logger
from ml_connector.pipeline import RunContext, RunOutcome, RunStatus
from ml_connector.sage100.agent_client.agents import AgentClients
from ml_connector.sage100.agent_client.client import RetryPolicy, Sage100Client
from ml_connector.sage100.agent_client.credentials import agent_client
from ml_connector.sage100.certificates import record_agent_certificate
from ml_connector.sage100.collect.cursor import StreamCursor, shift
from ml_connector.sage100.collect.records import (
    Record,
    format_stamp,
    parse_stamp,
    record_key,
    stamp,
)
from ml_connector.sage100.collect.streams import STREAMS, StreamSpec
from ml_connector.sage100.company_problems import pipeline_problems
from ml_connector.sage100.decide.plan import Plan, plan_gl_postings, plan_records, register_keys
from ml_connector.sage100.route.dispatch import (
    plan_outgoing,
    source_data_outgoing,
    split_bad_records,
)
from ml_connector.sage100.state import load_cursor, load_states, save_cursor, save_states
from ml_connector.sage100.write.messages import Style
from ml_connector.store.companies import paused
from ml_connector.vault import Vault
from ml_connector.wording import plural

log = get_logger("ml_connector.sage100.pipeline")

#: Seconds for the one handshake per run that reads the agent's certificate.
CERTIFICATE_TIMEOUT = 5.0
#: The agent's certificate is read (one handshake) and recorded at most this often per
#: pipeline; its warning is about expiry in 30 days.
CERTIFICATE_EVERY = 3600.0

PAGE_SIZE = 500
# Records held in memory and committed together; a larger read is committed in parts.
WINDOW_RECORDS = 5_000


@dataclass
class StreamResult:
    stream: str
    # Named in the run's lines only when one run polls several companies.
    company: str | None = None
    read: int = 0
    events: int = 0
    queued: int = 0
    digests: int = 0
    parts: int = 0  # transactions the read was committed in
    cursor: str | None = None
    error: str | None = None
    # Records left out for bad source data (an amount outside the bound), one line each.
    rejected: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.stream if self.company is None else f"{self.company} {self.stream}"

    def line(self) -> str:
        if self.error:
            return f"{self.label} failed: {self.error}"
        if not self.events:
            return f"{self.label}: nothing new ({plural(self.read, 'record')} read)"
        digests = f", {self.digests} as digests" if self.digests else ""
        return (
            f"{self.label}: {plural(self.queued, 'message')} queued for "
            f"{plural(self.events, 'change')} ({plural(self.read, 'record')} read{digests})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "events": self.events,
            "queued": self.queued,
            "digests": self.digests,
            "parts": self.parts,
            "cursor": self.cursor,
            "error": self.error,
        }


@dataclass(frozen=True)
class _CompanySettings:
    """A company's streams and currency: the pipeline's, with the company's own on top."""

    streams: dict[str, Sage100Stream]
    currency: str


@dataclass(frozen=True)
class _Target:
    """One stream of one company, as one poll reads it."""

    company: Company
    currency: str
    spec: StreamSpec
    stream: Sage100Stream

    @property
    def key(self) -> str:
        return self.company.key


@dataclass
class _Window:
    start: str
    until: str | None
    records: list[Record] = field(default_factory=list)
    # the stored cursor the window starts from (None: a first run, or ``--since``)
    cursor: StreamCursor | None = None


def _local(value: datetime, zone: ZoneInfo) -> str:
    """A ``--since``/``--until`` moment as a Sage 100 stamp (the server's wall-clock time)."""
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    return format_stamp(value)


class Sage100Pipeline:
    """Polls one Sage 100 company through its agent and queues Slack messages per stream."""

    def __init__(
        self,
        name: str,
        config: Config,
        *,
        client: Sage100Client | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
        window_records: int = WINDOW_RECORDS,
        agents: AgentClients | None = None,
    ) -> None:
        """``agents``: the runtime's shared clients, one per agent
        (``sage100.agent_client.agents``); without it the pipeline makes a client of its own."""
        settings = config.pipelines.get(name)
        if not isinstance(settings, Sage100Settings):
            raise ConfigError(f"pipelines.{name}: expected a pipeline of type 'sage100'")
        connection = config.connections.get(settings.connection)
        if not isinstance(connection, Sage100Connection):
            raise ConfigError(
                f"pipelines.{name}.connection: expected a sage100 connection, "
                f"got {settings.connection!r}"
            )
        problems = pipeline_problems(config, name)
        if problems:
            raise ConfigError("\n".join(problems), problems)
        self.name = name
        self._config = config
        self._settings = settings
        self._connection = connection
        self._zone = config.pipeline_timezone(name)
        self._client = client
        self._owns_client = client is None
        self._retry = retry or RetryPolicy()
        self._page_size = page_size
        self._window_records = window_records
        self._agents = agents
        if agents is not None:
            agents.users += 1
        self._certificate_noted: tuple[float, tuple[str, datetime]] | None = None

    def __repr__(self) -> str:
        return f"Sage100Pipeline({self.name!r}, connection={self._settings.connection!r})"

    async def aclose(self) -> None:
        if self._agents is not None:
            agents, self._agents = self._agents, None
            self._client = None
            await agents.release()
            return
        if self._client is not None and self._owns_client:
            await self._client.close()
            self._client = None

    # -- run ------------------------------------------------------------------------------

    async def run(self, ctx: RunContext) -> RunOutcome:
        try:
            client = await self._agent(ctx.vault)
        except (ExternalError, VaultError) as exc:
            error = f"cannot set up the Sage 100 agent client: {exc}"
            return RunOutcome(status="failed", error=error, summary=error)
        await self._note_certificate(ctx, client)
        try:
            companies = await self._companies(ctx, client)
        except ExternalError as exc:
            error = f"cannot list the companies the Sage 100 agent serves: {exc}"
            return RunOutcome(status="failed", error=error, summary=error)
        many = len(companies) > 1
        results = []
        for company in companies:
            settings = self._company_settings(ctx, company)
            try:
                streams = self._selected(ctx.stream, settings.streams)
            except ConfigError as exc:
                return RunOutcome(status="failed", error=str(exc), summary=str(exc))
            for stream_name, stream in streams:
                result = StreamResult(stream_name, company.code if many else None)
                try:
                    target = _Target(company, settings.currency, STREAMS[stream_name], stream)
                    await self._poll(ctx, client, target, result)
                except ExternalError as exc:
                    result.error = str(exc)
                    log.warning(
                        "sage100 poll failed",
                        pipeline=self.name,
                        company=company.code,
                        stream=stream_name,
                        error=str(exc),
                        transient=exc.transient,
                    )
                results.append(result)
        return self._outcome(results)

    async def _companies(self, ctx: RunContext, client: Sage100Client) -> list[Company]:
        """The run's company, or every company of the pipeline that is not paused."""
        if ctx.company is not None:
            return [ctx.company]
        served = None
        if serves_every_company(ctx.config, self.name):
            served = (await client.health()).companies
        every = pipeline_companies(ctx.config, self.name, served)
        async with ctx.engine.connect() as conn:
            stopped = await paused(conn, self.name)
        return [c for c in every if (self.name, c.code) not in stopped]

    def _company_settings(self, ctx: RunContext, company: Company) -> _CompanySettings:
        settings = ctx.config.pipelines.get(self.name)
        if not isinstance(settings, Sage100Settings):
            settings = self._settings
        return _CompanySettings(
            streams=sage100_streams(settings, company.code),
            currency=sage100_currency(settings, company.code),
        )

    async def _note_certificate(self, ctx: RunContext, client: Sage100Client) -> None:
        """Record the agent's certificate for the status views' 30-day warning. Best effort
        and short (an unreachable agent fails the reads below with the real message, after
        their own retries, and this must not add a whole timeout to that)."""
        try:
            seen = await asyncio.wait_for(
                client.certificate(max_age=CERTIFICATE_EVERY), CERTIFICATE_TIMEOUT
            )
        except (ExternalError, TimeoutError) as exc:
            log.info("agent certificate not read", pipeline=self.name, error=str(exc))
            return
        if seen is None:
            return
        noted = self._certificate_noted
        if (
            noted is not None
            and noted[1] == seen
            and time.monotonic() - noted[0] < CERTIFICATE_EVERY
        ):
            return
        try:
            await record_agent_certificate(ctx.engine, self._settings.connection, *seen)
        except SQLAlchemyError as exc:  # the commits below report a database that is down
            log.warning("agent certificate not recorded", pipeline=self.name, error=str(exc))
            return
        self._certificate_noted = (time.monotonic(), seen)

    def _selected(
        self, wanted: str | None, streams: dict[str, Sage100Stream]
    ) -> list[tuple[str, Sage100Stream]]:
        if wanted is None:
            return [(n, s) for n, s in streams.items() if s.enabled]
        if wanted not in streams:
            known = ", ".join(streams) or "none"
            raise ConfigError(
                f"pipeline {self.name} has no stream {wanted!r} (configured: {known})"
            )
        if not streams[wanted].enabled:
            raise ConfigError(
                f"stream {wanted!r} of pipeline {self.name} is disabled in the config "
                f"(pipelines.{self.name}.streams.{wanted}.enabled)"
            )
        return [(wanted, streams[wanted])]

    @staticmethod
    def _outcome(results: list[StreamResult]) -> RunOutcome:
        failed = [r for r in results if r.error]
        status: RunStatus
        if not results:
            status = "succeeded"
        elif len(failed) == len(results):
            status = "failed"
        elif failed:
            status = "partial"
        else:
            status = "succeeded"
        rejected = [line for r in results for line in r.rejected]
        if rejected and status == "succeeded":
            status = "partial"
        errors = [f"{r.label}: {r.error}" for r in failed]
        if rejected:
            errors.append("source data error, left out: " + "; ".join(rejected))
        summary = "; ".join(r.line() for r in results) or "no enabled streams"
        return RunOutcome(
            status=status,
            records_read=sum(r.read for r in results),
            messages_queued=sum(r.queued for r in results),
            error="; ".join(errors) or None,
            summary=summary,
            details={"streams": {r.label: r.as_dict() for r in results}},
        )

    async def _agent(self, vault: Vault) -> Sage100Client:
        if self._client is None and self._agents is not None:
            return await self._agents.client(self._connection, vault)
        if self._client is None:
            self._client, _ = await agent_client(
                self._connection, self._config, vault, retry=self._retry
            )
        return self._client

    # -- one stream -------------------------------------------------------------------------

    async def _poll(
        self, ctx: RunContext, client: Sage100Client, target: _Target, result: StreamResult
    ) -> None:
        window = await self._window(ctx, client, target)
        async for page in self._read(ctx, client, target, window):
            window.records.extend(page)
            if len(window.records) >= self._window_records:
                await self._commit(ctx, target, window, result)
                window.records = []
        await self._commit(ctx, target, window, result)
        log.info(
            "sage100 poll",
            pipeline=self.name,
            company=target.company.code,
            stream=target.spec.name,
            since=window.start,
            read=result.read,
            events=result.events,
            queued=result.queued,
            parts=result.parts,
            cursor=result.cursor,
        )

    async def _commit(
        self, ctx: RunContext, target: _Target, window: _Window, result: StreamResult
    ) -> None:
        """Plan the records read so far and commit their messages, states and cursor."""
        if not window.records and window.cursor is not None and not result.parts:
            # A poll that read nothing from a stored cursor has nothing to commit: no
            # message, no state, and the cursor stays where it is (``advance`` of nothing).
            # Most polls are these; each is a transaction fewer.
            result.cursor = window.cursor.position.stamp
            return
        spec, stream, key = target.spec, target.stream, target.key
        async with ctx.engine.begin() as conn:
            stored = await load_cursor(conn, key, spec.name, for_update=True)
            cursor = stored or StreamCursor.starting_at(window.start)
            good, bad = split_bad_records(window.records)
            plan = await self._plan(conn, target, window, cursor, good)
            style = Style(
                company=target.company.code,
                currency=target.currency,
                zone=self._zone,
                record_link=stream.record_link,
            )
            outgoing = plan_outgoing(key, spec, stream, plan.events, style)
            if bad:
                outgoing.append(source_data_outgoing(key, spec, stream, bad, style))
            queued = await enqueue_all(
                conn,
                outgoing,
                workspace=self._settings.workspace,
                pipeline=self.name,
                run_id=ctx.run_id,
            )
            await save_states(conn, key, spec.name, plan.states)
            assert plan.cursor is not None
            if plan.cursor != stored:  # records read again in the overlap move nothing
                await save_cursor(conn, key, spec.name, plan.cursor)
        result.rejected.extend(line for _, problems in bad for line in problems)
        result.read += len(window.records)
        result.queued += len(queued)
        result.events += len(plan.events)
        result.digests += sum(1 for item in outgoing if item.kind.endswith(".digest"))
        result.parts += 1
        result.cursor = plan.cursor.position.stamp

    async def _window(self, ctx: RunContext, client: Sage100Client, target: _Target) -> _Window:
        until = _local(ctx.until, self._zone) if ctx.until else None
        if ctx.since is not None:
            return _Window(_local(ctx.since, self._zone), until)
        async with ctx.engine.connect() as conn:
            cursor = await load_cursor(conn, target.key, target.spec.name)
        overlap = target.stream.overlap_minutes
        if cursor is not None:
            return _Window(cursor.window_start(overlap), until, cursor=cursor)
        # First run: begin at the agent's own clock, the clock its stamps come from.
        # (read once for the companies starting together, moved on by its age)
        server_time, age = await client.server_time()
        if server_time is None:
            now = format_stamp(datetime.now(self._zone).replace(tzinfo=None))
        else:
            now = shift(format_stamp(parse_stamp(server_time)), age / 60)
        start = shift(now, -overlap)
        return _Window(start, until)

    async def _read(
        self, ctx: RunContext, client: Sage100Client, target: _Target, window: _Window
    ) -> AsyncIterator[Sequence[Record]]:
        """The window's records page by page, in ``(stamp, record_key)`` order, to ``until``."""
        async for page in client.pages(
            target.company.code,
            target.spec.resource,
            changed_since=window.start,
            limit=self._page_size,
        ):
            if window.until is None:
                yield page.records
            else:
                kept = [r for r in page.records if stamp(r) <= window.until]
                yield kept
                if len(kept) < len(page.records):
                    return
            if ctx.heartbeat is not None:
                await ctx.heartbeat()

    async def _plan(
        self,
        conn: AsyncConnection,
        target: _Target,
        window: _Window,
        cursor: StreamCursor,
        records: list[Record],
    ) -> Plan:
        spec, overlap = target.spec, target.stream.overlap_minutes
        if spec.name == "gl_postings":
            registers = await load_states(conn, target.key, spec.name, register_keys(records))
            return plan_gl_postings(spec, records, registers, cursor, overlap_minutes=overlap)
        keys = (record_key(r) for r in records)
        states = await load_states(conn, target.key, spec.name, keys)
        return plan_records(
            spec,
            records,
            states,
            cursor,
            window_start=window.start,
            overlap_minutes=overlap,
        )
