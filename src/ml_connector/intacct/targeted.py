"""The targeted read: the records a trigger named, read through the gateway, judged by the same
rules as the scheduled run, posted with the same dedupe keys.

Everything the alerts need goes in one batched gateway request: the GL batches named and all
their lines (the unbalanced-entry rule needs every line), the payments named, the vendors that
must not be paid as things are (the scheduled run's own vendor query: the vendor rule judges a
payment against them), and for a changed vendor its record and the payments to it modified in
the payments window. Lines of a big batch may need further pages; nothing else does.

Only alerts come from here — unbalanced entries and vendor exceptions — through
``outputs.plan`` with the scheduled run's keys (``RECORDNO@WHENMODIFIED``), so when the
schedule reads the same versions later its enqueue finds the keys taken and posts nothing
twice; a version the triggers missed is still alerted by the schedule. Summaries stay with the
schedule. A record the trigger named that the read does not find (deleted, or never visible
to this user or entity) posts nothing and is logged.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.outbox import enqueue_all
from ml_connector.intacct import outputs, reads, state
from ml_connector.intacct.gateway import (
    IntacctClient,
    Query,
    Record,
    all_of,
    greaterthanorequalto,
    in_,
)
from ml_connector.intacct.outputs import Findings, Outgoing
from ml_connector.intacct.pipeline import PAYMENTS, IntacctPipeline
from ml_connector.intacct.run_window import Window, plan_window
from ml_connector.intacct.summaries import (
    GLBatch,
    GLLine,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Period,
    UnbalancedBatch,
    Vendor,
    VendorException,
    gl_batch,
    gl_line,
    payment,
    vendor,
)
from ml_connector.intacct.trigger_events import RecordRef
from ml_connector.logging import get_logger
from ml_connector.vault import Vault

log = get_logger("ml_connector.intacct.triggers")


@dataclass
class TargetedOutcome:
    records_read: int = 0
    queued: list[Outgoing] = field(default_factory=list)
    missing: list[RecordRef] = field(default_factory=list)
    # Versions the rules found nothing in, by ref (posted and balanced, paid without problem…).
    quiet: int = 0


@dataclass
class _Found:
    batches: dict[int, GLBatch] = field(default_factory=dict)
    lines: dict[int, list[GLLine]] = field(default_factory=dict)
    payments: dict[int, Payment] = field(default_factory=dict)
    vendors: dict[str, Vendor] = field(default_factory=dict)
    vendor_recordnos: set[int] = field(default_factory=set)


def _keys(refs: Sequence[RecordRef], object_name: str) -> list[int]:
    return sorted({int(ref.key) for ref in refs if ref.object == object_name})


class TargetedReader:
    """The targeted reads of one connection, for every intacct pipeline reading it."""

    def __init__(self, connection: str, pipelines: Sequence[IntacctPipeline]) -> None:
        if not pipelines:
            raise ValueError(f"no intacct pipeline reads connection {connection!r}")
        self.connection = connection
        self.pipelines = list(pipelines)

    async def read(
        self, engine: AsyncEngine, vault: Vault, refs: Sequence[RecordRef]
    ) -> TargetedOutcome:
        """Read the records, enqueue the alerts they call for; IntacctError is raised."""
        lead = self.pipelines[0]
        size = lead.settings.thresholds.page_size
        batches, payments, vendors = (
            _keys(refs, "GLBATCH"),
            _keys(refs, "APPYMT"),
            _keys(refs, "VENDOR"),
        )
        queries: dict[str, Query] = {}
        if batches:
            queries["batches"] = Query(
                "GLBATCH", reads.GLBATCH_FIELDS, in_("RECORDNO", *batches), reads.BY_RECORDNO,
                pagesize=size,
            )  # fmt: skip
            queries["entries"] = reads.lines_query(batches, size)
        if payments or vendors:
            queries["problem_vendors"] = reads.vendors_query(size)
        if payments:
            queries["payments"] = Query(
                "APPYMT", reads.APPYMT_FIELDS, in_("RECORDNO", *payments), reads.BY_RECORDNO,
                pagesize=size,
            )  # fmt: skip
        if vendors:
            since = await self._payments_since(engine)
            queries["vendors"] = Query(
                "VENDOR", reads.VENDOR_FIELDS, in_("RECORDNO", *vendors), reads.BY_RECORDNO,
                pagesize=size,
            )  # fmt: skip
            queries["vendor_payments"] = Query(
                "APPYMT",
                reads.APPYMT_FIELDS,
                all_of(in_("VENDORKEY", *vendors), greaterthanorequalto("WHENMODIFIED", since)),
                reads.BY_RECORDNO,
                pagesize=size,
            )
        client = await lead.client(engine, vault)
        first = reads.FirstRound(queries)
        await first.send(client)
        tally = reads.Tally()
        found = await self._collect(client, first, tally)
        outcome = TargetedOutcome(records_read=tally.records)
        outcome.missing = self._missing(refs, found)
        for ref in outcome.missing:
            log.info(
                "trigger names a record the read does not find; nothing posted",
                connection=self.connection,
                object=ref.object,
                recordno=ref.key,
                why="deleted in Intacct, or not visible to this user or entity",
            )
        unbalanced, exceptions = self._judge(found, lead)
        outcome.quiet = len(found.batches) + len(found.payments) - len(unbalanced) - len(exceptions)
        outcome.queued = await self._enqueue(engine, unbalanced, exceptions)
        return outcome

    async def _payments_since(self, engine: AsyncEngine) -> datetime:
        """The start of the earliest payments window among the pipelines (a vendor's change
        concerns the payments the schedule would judge against it)."""
        starts = []
        async with engine.connect() as conn:
            for pipeline in self.pipelines:
                cursor = (await state.load_cursors(conn, pipeline.name)).get(PAYMENTS)
                t = pipeline.settings.thresholds
                window = plan_window(
                    cursor,
                    now=pipeline.company_now(),
                    overlap=timedelta(minutes=t.overlap_minutes),
                    initial_lookback=timedelta(hours=t.initial_lookback_hours),
                )
                starts.append(window.start)
        return min(starts)

    async def _collect(
        self, client: IntacctClient, first: reads.FirstRound, tally: reads.Tally
    ) -> _Found:
        found = _Found()

        def each(
            name: str, order: Callable[[Record], tuple[int, ...]] = reads.by_recordno
        ) -> AsyncIterator[Record]:
            return reads.records(
                client, first.queries[name], first.outcomes[name], tally, order=order
            )

        if "batches" in first.queries:
            async for record in each("batches"):
                batch = gl_batch(record)
                found.batches[batch.recordno] = batch
            async for record in each("entries", reads.by_batch):
                line = gl_line(record)
                found.lines.setdefault(line.batch, []).append(line)
        if "problem_vendors" in first.queries:
            async for record in each("problem_vendors"):
                master = vendor(record)
                found.vendors[master.vendor_id] = master
        if "vendors" in first.queries:
            async for record in each("vendors"):
                master = vendor(record)
                found.vendors.setdefault(master.vendor_id, master)
                recordno = record.get("RECORDNO")
                if isinstance(recordno, int):
                    found.vendor_recordnos.add(recordno)
            async for record in each("vendor_payments"):
                pay = payment(record)
                found.payments[pay.recordno] = pay
        if "payments" in first.queries:
            async for record in each("payments"):
                pay = payment(record)
                found.payments[pay.recordno] = pay
        return found

    @staticmethod
    def _missing(refs: Sequence[RecordRef], found: _Found) -> list[RecordRef]:
        present = {
            "GLBATCH": set(found.batches),
            "APPYMT": set(found.payments),
            "VENDOR": found.vendor_recordnos,
        }
        return [ref for ref in refs if int(ref.key) not in present[ref.object]]

    @staticmethod
    def _judge(
        found: _Found, lead: IntacctPipeline
    ) -> tuple[list[UnbalancedBatch], list[VendorException]]:
        """The scheduled run's rules: GLSummaryBuilder for posted batches (all lines),
        PaymentSummaryBuilder against the vendors with problems."""
        now = lead.company_now()
        window = Window(now, now)
        gl = GLSummaryBuilder(window, current_period=Period.of(now.date()))
        for recordno in sorted(found.batches):
            batch = found.batches[recordno]
            if batch.posted:
                gl.add(batch, found.lines.get(recordno, []))
        pay = PaymentSummaryBuilder(window, found.vendors, top=1)
        for recordno in sorted(found.payments):
            pay.add(found.payments[recordno])
        return list(gl.unbalanced), list(pay.exceptions)

    async def _enqueue(
        self,
        engine: AsyncEngine,
        unbalanced: list[UnbalancedBatch],
        exceptions: list[VendorException],
    ) -> list[Outgoing]:
        queued: list[Outgoing] = []
        if not unbalanced and not exceptions:
            return queued
        by_workspace: dict[str, list[tuple[IntacctPipeline, list[Outgoing]]]] = defaultdict(list)
        # A record of an entity the pipeline reads on its own goes to that entity's channels;
        # its dedupe key is the pipeline's either way (outputs.plan), as the scheduled run's.
        entities = sorted(
            {u.batch.entity for u in unbalanced} | {e.payment.entity for e in exceptions}
        )
        for pipeline in self.pipelines:
            planned = []
            for entity in entities:
                channels, style, scoped = pipeline.alert_scope(entity)
                planned += outputs.plan(
                    Findings(
                        unbalanced=[u for u in unbalanced if u.batch.entity == entity],
                        exceptions=[e for e in exceptions if e.payment.entity == entity],
                    ),
                    pipeline=pipeline.name,
                    company=pipeline.company,
                    channels=channels,
                    style=style,
                    post_empty=False,
                    entity=scoped,
                )
            tagged = [
                dataclasses.replace(item, source={**item.source, "via": "intacct_trigger"})
                for item in planned
            ]
            by_workspace[pipeline.settings.workspace].append((pipeline, tagged))
        async with engine.begin() as conn:
            for workspace, items in by_workspace.items():
                for pipeline, planned in items:
                    queued += await enqueue_all(
                        conn, planned, workspace=workspace, pipeline=pipeline.name, run_id=None
                    )
        return queued
