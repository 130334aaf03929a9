"""The Sage Intacct → Slack pipeline: one run reads a window and posts what the team must know.

A run reads three streams, each with its own cursor: ``gl`` (posted GL batches and their lines),
``payments`` (AP payments, judged against the vendors that should not be paid) and
``accounts`` (the account-title cache). All first reads go in one gateway request
(:mod:`.reads`). A stream that fails is reported in an alert and its cursor stays where it was,
so the next run reads its window again; the streams that were read completely are summarised
and posted, and their cursors move. The messages and the cursors are committed in one
transaction: either both are stored or neither is.

Multi-entity companies: with ``entities`` on the connection and ``summarise = "per_entity"``,
each entity is a company of the pipeline (``ml_connector.companies``), read through a session
scoped to it (the login's ``<locationid>``), with its own cursors, dedupe keys and channels;
``top_level = true`` adds the top level, whose session sees every entity: its summaries are
the consolidated view, and its record alerts leave out the listed entities' records, which
their own runs alert on. Record alerts are keyed by the pipeline, not the entity (a RECORDNO
is company-wide), so a trigger's targeted read and the scheduled run never alert one record
twice. ``summarise = "all"`` reads the top level alone, as before.

Time: Intacct stamps WHENMODIFIED in the company's zone without saying which (research §5).
The pipeline's time zone (``timezone``, else the global one) must be the company's; it is used
both to build the window and to show times. ``--since``/``--until`` given without a zone are
taken as company-local.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import (
    Company,
    intacct_channels,
    intacct_mention_group,
    pipeline_companies,
)
from ml_connector.config import Config, IntacctConnection
from ml_connector.config import IntacctPipeline as IntacctPipelineConfig
from ml_connector.delivery.outbox import enqueue_all
from ml_connector.errors import ConfigError, TransientError
from ml_connector.intacct import outputs, reads, state
from ml_connector.intacct.gateway import (
    Credentials,
    IntacctClient,
    IntacctError,
    IntacctTransport,
    RequestSlots,
    RetryPolicy,
)
from ml_connector.intacct.messages import Style
from ml_connector.intacct.outputs import Channels, Findings, Outgoing
from ml_connector.intacct.run_window import (
    StreamCursor,
    Window,
    advance,
    is_new,
    plan_window,
    to_company_time,
)
from ml_connector.intacct.summaries import (
    GLBatch,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Period,
    ReadFailure,
    RecordError,
    Vendor,
)
from ml_connector.pipeline import RunContext, RunOutcome, RunStatus
from ml_connector.store.companies import paused
from ml_connector.vault import Vault

GL, PAYMENTS, ACCOUNTS = "gl", "payments", "accounts"
WHAT = {
    GL: "GL batches and entries",
    PAYMENTS: "AP payments and vendors",
    ACCOUNTS: "GL accounts",
    "all": "GL, payments and accounts",
}
_KIND_NAMES = {
    "gl_summary": ("GL summary", "GL summaries"),
    "payment_summary": ("payment summary", "payment summaries"),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _failure(stream: str, window: Window, exc: Exception) -> ReadFailure:
    """An exception from a read as what the alert shows and what identifies it across runs."""
    if isinstance(exc, IntacctError):
        code = ",".join(e.errorno for e in exc.errors if e.errorno) or type(exc).__name__
        return ReadFailure(
            stream,
            WHAT[stream],
            window,
            exc.message,
            errors=exc.errors,
            transient=isinstance(exc, TransientError),
            code=code,
        )
    return ReadFailure(stream, WHAT[stream], window, str(exc), code=type(exc).__name__)


@dataclass
class _Run:
    """One run's plan and what it has found so far."""

    now: datetime
    overlap: timedelta
    explicit: bool
    cursors: dict[str, StreamCursor]
    windows: dict[str, Window]
    titles: dict[str, str]
    tally: reads.Tally = field(default_factory=reads.Tally)
    findings: Findings = field(default_factory=Findings)
    new_cursors: dict[str, StreamCursor] = field(default_factory=dict)
    new_titles: dict[str, str] = field(default_factory=dict)

    @property
    def accounts_since(self) -> datetime | None:
        cursor = self.cursors.get(ACCOUNTS)
        return cursor.through - self.overlap if cursor is not None else None

    def move(self, stream: str, versions: list[tuple[str, datetime]]) -> None:
        """The stream was read completely: its cursor moves (unless an explicit window says
        otherwise)."""
        moved = advance(
            self.cursors.get(stream),
            self.windows[stream],
            versions,
            overlap=self.overlap,
            explicit=self.explicit,
        )
        if moved is not None:
            self.new_cursors[stream] = moved


class IntacctPipeline:
    """``Pipeline`` for one ``[pipelines.NAME]`` of type intacct."""

    def __init__(
        self,
        name: str,
        config: Config,
        *,
        transport: IntacctTransport | None = None,
        retry: RetryPolicy | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        settings = config.pipelines.get(name)
        if not isinstance(settings, IntacctPipelineConfig):
            raise ConfigError(f"pipelines.{name}: expected an intacct pipeline")
        connection = config.connections.get(settings.connection)
        if not isinstance(connection, IntacctConnection):
            raise ConfigError(f"pipelines.{name}.connection: expected an intacct connection")
        self.name = name
        self._config = config
        self._settings = settings
        self._connection = connection
        self._zone: ZoneInfo = config.pipeline_timezone(name)
        self._transport = transport
        self._owns_transport = transport is None
        self._retry = retry
        self._now = now
        self._style = Style(
            zone=self._zone,
            company=connection.company_id,
            mention_group=settings.mention_group,
            max_alert_lines=settings.thresholds.max_alert_lines,
        )
        channels = settings.channels
        self._channels = Channels(channels.gl, channels.payments, channels.alerts)

    def __repr__(self) -> str:
        return f"IntacctPipeline({self.name!r}, company={self._connection.company_id!r})"

    # -- what a targeted read (``intacct.targeted``) shares with the scheduled run ---------------

    @property
    def connection_name(self) -> str:
        return self._settings.connection

    @property
    def settings(self) -> IntacctPipelineConfig:
        return self._settings

    @property
    def company(self) -> str:
        return self._connection.company_id

    @property
    def style(self) -> Style:
        return self._style

    @property
    def channels(self) -> Channels:
        return self._channels

    def alert_scope(self, entity: str) -> tuple[Channels, Style, str | None]:
        """Where a trigger's alert about a record of ``entity`` goes: that entity's channels
        and wording when the pipeline reads it as a company of its own, else the pipeline's
        (with the entity it names, for the message's source)."""
        for company in pipeline_companies(self._config, self.name):
            if company.entity is not None and company.entity == entity:
                scope = self._scope_in(self._config, company)
                return scope.channels, scope.style, company.entity
        return self._channels, self._style, None

    def company_now(self) -> datetime:
        return to_company_time(self._now(), self._zone)

    async def client(self, engine: AsyncEngine, vault: Vault) -> IntacctClient:
        """The client the scheduled run uses (same transport, sessions and slots)."""
        return await self._client(engine, vault)

    async def aclose(self) -> None:
        if self._owns_transport and self._transport is not None:
            await self._transport.close()
            self._transport = None

    # -- the run ---------------------------------------------------------------------------------

    async def run(self, ctx: RunContext) -> RunOutcome:
        if ctx.company is not None:
            return await self._run_company(ctx, ctx.company)
        every = pipeline_companies(ctx.config, self.name)
        async with ctx.engine.connect() as conn:
            stopped = await paused(conn, self.name)
        outcomes = [
            await self._run_company(ctx, company)
            for company in every
            if (self.name, company.code) not in stopped
        ]
        return _combine(outcomes)

    def _scope(self, ctx: RunContext, company: Company) -> _Scope:
        return self._scope_in(ctx.config, company)

    def _scope_in(self, config: Config, company: Company) -> _Scope:
        settings = config.pipelines.get(self.name)
        if not isinstance(settings, IntacctPipelineConfig):
            settings = self._settings
        channels = intacct_channels(settings, company.code)
        top = self._connection.company_id
        entity = company.entity
        label = top if entity is None else f"{top} · entity {entity}"
        # The top level beside its entities: their records are alerted by their own runs.
        others = (
            frozenset(self._connection.entities)
            if entity is None and self._connection.entities
            else frozenset()
        )
        return _Scope(
            company=company,
            channels=Channels(channels.gl, channels.payments, channels.alerts),
            style=Style(
                zone=self._zone,
                company=label,
                mention_group=intacct_mention_group(settings, company.code),
                max_alert_lines=settings.thresholds.max_alert_lines,
            ),
            alerted_elsewhere=others,
        )

    async def _run_company(self, ctx: RunContext, company: Company) -> RunOutcome:
        scope = self._scope(ctx, company)
        client = await self._client(ctx.engine, ctx.vault, entity=company.entity)
        run = await self._plan(ctx, scope)
        size = self._settings.thresholds.page_size
        first = reads.FirstRound(
            {
                "batches": reads.batches_query(run.windows[GL], size),
                "entries": reads.entries_query(run.windows[GL], size),
                "payments": reads.payments_query(run.windows[PAYMENTS], size),
                "vendors": reads.vendors_query(size),
                "accounts": reads.accounts_query(run.accounts_since, size),
            }
        )
        try:
            await first.send(client)
        except IntacctError as exc:
            stuck = [c.through for s, c in run.cursors.items() if s in (GL, PAYMENTS)]
            failure = _failure("all", run.windows[GL], exc)
            run.findings.failures.append((failure, min(stuck, default=None)))
        else:
            # Accounts first: their titles label the GL summary.
            await self._read_accounts(client, first, run)
            await self._beat(ctx)
            await self._read_gl(client, first, run)
            await self._beat(ctx)
            await self._read_payments(client, first, run)
        run.findings.rejected = list(run.tally.rejected)
        if scope.alerted_elsewhere:
            run.findings.unbalanced = [
                u for u in run.findings.unbalanced if u.batch.entity not in scope.alerted_elsewhere
            ]
            run.findings.exceptions = [
                e
                for e in run.findings.exceptions
                if e.payment.entity not in scope.alerted_elsewhere
            ]
        planned = outputs.plan(
            run.findings,
            pipeline=company.key,
            company=self._connection.company_id,
            channels=scope.channels,
            style=scope.style,
            post_empty=self._settings.post_empty,
            entity=company.entity,
            records_pipeline=self.name,
        )
        queued = await self._commit(ctx, company, planned, run.new_cursors, run.new_titles)
        failures = [failure for failure, _ in run.findings.failures]
        outcome = self._outcome(run.tally.records, planned, queued, failures)
        if run.tally.rejected:
            left_out = "; ".join(sorted({r.problem for r in run.tally.rejected}))
            outcome.error = "; ".join(
                filter(None, [outcome.error, f"source data error, left out: {left_out}"])
            )
            if outcome.status == "succeeded":
                outcome.status = "partial"
        return outcome

    async def _plan(self, ctx: RunContext, scope: _Scope) -> _Run:
        thresholds = self._settings.thresholds
        overlap = timedelta(minutes=thresholds.overlap_minutes)
        now = to_company_time(self._now(), self._zone)
        since = to_company_time(ctx.since, self._zone) if ctx.since is not None else None
        until = to_company_time(ctx.until, self._zone) if ctx.until is not None else None
        async with ctx.engine.connect() as conn:
            cursors = await state.load_cursors(conn, scope.company.key)
            titles = await state.load_titles(conn, self._connection.company_id)
        windows = {
            stream: plan_window(
                cursors.get(stream),
                now=now,
                overlap=overlap,
                initial_lookback=timedelta(hours=thresholds.initial_lookback_hours),
                since=since,
                until=until,
            )
            for stream in (GL, PAYMENTS)
        }
        return _Run(
            now=now,
            overlap=overlap,
            explicit=since is not None or until is not None,
            cursors=cursors,
            windows=windows,
            titles=titles,
        )

    async def _read_accounts(
        self, client: IntacctClient, first: reads.FirstRound, run: _Run
    ) -> None:
        try:
            run.new_titles = await reads.read_accounts(client, first, run.tally)
        except (IntacctError, RecordError) as exc:
            run.findings.failures.append((_failure(ACCOUNTS, run.windows[GL], exc), None))
            return
        run.titles.update(run.new_titles)
        run.new_cursors[ACCOUNTS] = StreamCursor(through=run.now)

    async def _read_gl(self, client: IntacctClient, first: reads.FirstRound, run: _Run) -> None:
        thresholds = self._settings.thresholds
        window, cursor = run.windows[GL], run.cursors.get(GL)
        builder = GLSummaryBuilder(
            window,
            current_period=Period.of(run.now.date()),
            closed_through=self._settings.books_closed_through,
        )

        def wanted(batch: GLBatch) -> bool:
            return is_new(batch.key, cursor, explicit=run.explicit)

        try:
            versions = await reads.read_gl(
                client, first, builder, run.tally, wanted=wanted, pagesize=thresholds.page_size
            )
        except (IntacctError, RecordError) as exc:
            run.findings.failures.append((_failure(GL, window, exc), _through(cursor)))
            return
        run.move(GL, versions)
        run.findings.gl = builder.summary(titles=run.titles, top_accounts=thresholds.top_accounts)
        run.findings.unbalanced = list(builder.unbalanced)
        run.findings.notable_dropped = builder.notable_dropped

    async def _read_payments(
        self, client: IntacctClient, first: reads.FirstRound, run: _Run
    ) -> None:
        window, cursor = run.windows[PAYMENTS], run.cursors.get(PAYMENTS)
        top = self._settings.thresholds.top_payments

        def wanted(item: Payment) -> bool:
            return is_new(item.key, cursor, explicit=run.explicit)

        def builder(vendors: dict[str, Vendor]) -> PaymentSummaryBuilder:
            return PaymentSummaryBuilder(window, vendors, top=top)

        try:
            paid = await reads.read_payments(client, first, builder, run.tally, wanted=wanted)
        except (IntacctError, RecordError) as exc:
            run.findings.failures.append((_failure(PAYMENTS, window, exc), _through(cursor)))
            return
        run.move(PAYMENTS, paid.versions)
        run.findings.payments = paid.builder.summary()
        run.findings.exceptions = list(paid.builder.exceptions)

    # -- parts ---------------------------------------------------------------------------------

    async def _client(
        self, engine: AsyncEngine, vault: Vault, *, entity: str | None = None
    ) -> IntacctClient:
        """A client whose sessions are scoped to ``entity`` (None: the connection's own
        ``entity_id``, or the top level); all share the pipeline's transport and slots."""
        conn = self._connection
        credentials = Credentials(
            sender_id=conn.sender_id,
            sender_password=await vault.get(conn.sender_password),
            company_id=conn.company_id,
            user_id=conn.user_id,
            user_password=await vault.get(conn.user_password),
            entity_id=entity if entity is not None else conn.entity_id,
        )
        if self._transport is None:
            slots = RequestSlots(engine, limit=conn.max_concurrent)
            self._transport = IntacctTransport(slots, timeout=conn.timeout)
        return IntacctClient(
            credentials,
            engine=engine,
            vault=vault,
            transport=self._transport,
            gateway_url=conn.gateway_url,
            max_concurrent=conn.max_concurrent,
            retry=self._retry,
        )

    @staticmethod
    async def _beat(ctx: RunContext) -> None:
        if ctx.heartbeat is not None:
            await ctx.heartbeat()

    async def _commit(
        self,
        ctx: RunContext,
        company: Company,
        planned: list[Outgoing],
        cursors: dict[str, StreamCursor],
        titles: dict[str, str],
    ) -> list[Outgoing]:
        """Messages, cursors and titles in one transaction; the items newly queued."""
        async with ctx.engine.begin() as conn:
            queued = await enqueue_all(
                conn,
                planned,
                workspace=self._settings.workspace,
                pipeline=self.name,
                run_id=ctx.run_id,
            )
            for stream, cursor in cursors.items():
                await state.save_cursor(conn, company.key, stream, cursor)
            await state.save_titles(conn, self._connection.company_id, titles)
        return queued

    @staticmethod
    def _outcome(
        records: int, planned: list[Outgoing], queued: list[Outgoing], failures: list[ReadFailure]
    ) -> RunOutcome:
        status: RunStatus = "succeeded"
        if any(f.stream == "all" for f in failures):
            status = "failed"
        elif failures:
            status = "partial"
        counts: dict[str, int] = {}
        for item in queued:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return RunOutcome(
            status=status,
            records_read=records,
            messages_queued=len(queued),
            error="; ".join(f"{f.what}: {f.message}" for f in failures) or None,
            summary=describe(counts),
            details={
                "queued": counts,
                "already_queued": len(planned) - len(queued),
                "failed_streams": [f.stream for f in failures],
            },
        )


@dataclass(frozen=True)
class _Scope:
    """What one company's run posts where, and how it names itself."""

    company: Company
    channels: Channels
    style: Style
    # Entities whose record alerts come from their own runs (the top level beside them).
    alerted_elsewhere: frozenset[str]


def _combine(outcomes: list[RunOutcome]) -> RunOutcome:
    """Several entities' runs as one outcome (a run of the pipeline without a company)."""
    if len(outcomes) == 1:
        return outcomes[0]
    statuses = {o.status for o in outcomes}
    status: RunStatus = (
        "succeeded"
        if statuses <= {"succeeded"}
        else ("failed" if statuses == {"failed"} else "partial")
    )
    counts: dict[str, int] = {}
    for o in outcomes:
        for kind, n in o.details.get("queued", {}).items():
            counts[kind] = counts.get(kind, 0) + n
    return RunOutcome(
        status=status,
        records_read=sum(o.records_read for o in outcomes),
        messages_queued=sum(o.messages_queued for o in outcomes),
        error="; ".join(o.error for o in outcomes if o.error) or None,
        summary=describe(counts),
        details={
            "queued": counts,
            "already_queued": sum(o.details.get("already_queued", 0) for o in outcomes),
        },
    )


def _through(cursor: StreamCursor | None) -> datetime | None:
    return cursor.through if cursor is not None else None


def describe(counts: dict[str, int]) -> str:
    """``1 GL summary, 1 payment summary and 3 alerts queued``."""
    parts = []
    for kind, (one, many) in _KIND_NAMES.items():
        n = counts.get(kind, 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    alerts = sum(n for kind, n in counts.items() if kind not in _KIND_NAMES)
    if alerts:
        parts.append(f"{alerts} alert{'s' if alerts != 1 else ''}")
    if not parts:
        return "nothing new to post"
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{text} queued"
