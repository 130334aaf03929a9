"""The pipeline's reads: one batched request for the whole first round, then pages and follow-ups.

The first round asks for everything a run needs in one gateway request (one round trip, one
concurrency slot): GL batches and GL entries modified in the GL window, AP payments modified in
the payments window, the vendors that must not be paid as things are (on hold, not active, no
payment method: a paid vendor outside that set has nothing to report), and the GL accounts
changed since the title cache was refreshed. The vendors and accounts cannot be narrowed to
the paid vendors and touched accounts without a second round trip, and they need not be: both
sets are small, and the account read is incremental.

Further pages are fetched with ``query`` offsets. Offsets over a table that gains rows while it
is paged would show a row twice, never skip one (rows are only added, in key order), so every
stream checks that its keys strictly increase and fails, to be read again next run, if not.

Entries are ordered by batch, so a batch is complete when the next batch starts and can be
folded into the summary at once; only a batch at a time is held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ml_connector.intacct.gateway import (
    Filter,
    IntacctClient,
    Outcome,
    PagingError,
    Query,
    Record,
    RejectedRecord,
    any_of,
    between,
    equalto,
    greaterthanorequalto,
    in_,
    isnull,
    notequalto,
)
from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    GLBatch,
    GLLine,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Vendor,
    gl_batch,
    gl_line,
    payment,
    vendor,
)

GLBATCH_FIELDS = (
    "RECORDNO", "BATCHNO", "BATCH_TITLE", "JOURNAL", "BATCH_DATE", "STATE", "WHENMODIFIED",
    "MEGAENTITYID", "MEGAENTITYNAME", "BASELOCATION_NO", "RECORD_URL",
)  # fmt: skip
GLENTRY_FIELDS = (
    "RECORDNO", "BATCHNO", "LINE_NO", "TR_TYPE", "ENTRY_DATE", "AMOUNT", "BASECURR", "CURRENCY",
    "TRX_AMOUNT", "ACCOUNTNO", "ACCOUNTTITLE", "LOCATION", "ADJ", "DESCRIPTION", "WHENMODIFIED",
)  # fmt: skip
APPYMT_FIELDS = (
    "RECORDNO", "PRBATCHKEY", "PRBATCH", "DOCNUMBER", "RECORDID", "STATE", "PAYMENTMETHOD",
    "FINANCIALENTITY", "FINANCIALACCOUNTNAME", "VENDORID", "VENDORNAME", "TOTALENTERED",
    "TRX_TOTALENTERED", "BASECURR", "CURRENCY", "WHENPAID", "WHENCREATED", "WHENMODIFIED",
    "MEGAENTITYID", "RECORD_URL",
)  # fmt: skip
VENDOR_FIELDS = ("RECORDNO", "VENDORID", "NAME", "STATUS", "ONHOLD", "PAYMETHODKEY")
GLACCOUNT_FIELDS = ("RECORDNO", "ACCOUNTNO", "TITLE", "WHENMODIFIED")
BY_RECORDNO = (("RECORDNO", True),)
BY_BATCH = (("BATCHNO", True), ("RECORDNO", True))
# Values per `in` filter when asking for the lines of batches by key.
BATCHES_PER_QUERY = 500


def _modified(window: Window) -> Filter:
    return between("WHENMODIFIED", window.start, window.end)


def batches_query(window: Window, pagesize: int) -> Query:
    return Query("GLBATCH", GLBATCH_FIELDS, _modified(window), BY_RECORDNO, pagesize=pagesize)


def entries_query(window: Window, pagesize: int) -> Query:
    return Query("GLENTRY", GLENTRY_FIELDS, _modified(window), BY_BATCH, pagesize=pagesize)


def lines_query(batches: Sequence[int], pagesize: int) -> Query:
    return Query("GLENTRY", GLENTRY_FIELDS, in_("BATCHNO", *batches), BY_BATCH, pagesize=pagesize)


def payments_query(window: Window, pagesize: int) -> Query:
    return Query("APPYMT", APPYMT_FIELDS, _modified(window), BY_RECORDNO, pagesize=pagesize)


def vendors_query(pagesize: int) -> Query:
    problems = any_of(
        equalto("ONHOLD", True), notequalto("STATUS", "active"), isnull("PAYMETHODKEY")
    )
    return Query("VENDOR", VENDOR_FIELDS, problems, BY_RECORDNO, pagesize=pagesize)


def accounts_query(since: datetime | None, pagesize: int) -> Query:
    changed = greaterthanorequalto("WHENMODIFIED", since) if since is not None else None
    return Query("GLACCOUNT", GLACCOUNT_FIELDS, changed, BY_RECORDNO, pagesize=pagesize)


@dataclass
class Tally:
    """Records read, for the run's outcome, and those left out for bad source data."""

    records: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)

    def rejected_batches(self) -> set[object]:
        """GL batches one of whose lines was left out: their totals would be wrong."""
        return {r.get("BATCHNO") for r in self.rejected if r.object_name == "GLENTRY"}


@dataclass
class FirstRound:
    """The queries of the first round and each one's outcome (one request for all)."""

    queries: dict[str, Query]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    async def send(self, client: IntacctClient) -> None:
        batch = client.batch()
        pending = {name: batch.query(query) for name, query in self.queries.items()}
        await batch.send()
        self.outcomes = {name: p.outcome for name, p in pending.items() if p.outcome is not None}


async def records(
    client: IntacctClient,
    query: Query,
    first: Outcome,
    tally: Tally,
    *,
    order: Callable[[Record], tuple[int, ...]],
) -> AsyncIterator[Record]:
    """Every record of a query whose first page is ``first``."""
    pages = client.continue_query(query, first.unwrap())
    async for record in increasing(pages, query.object, tally, order=order):
        yield record


async def increasing(
    stream: AsyncIterator[Record],
    object_name: str,
    tally: Tally,
    *,
    order: Callable[[Record], tuple[int, ...]],
) -> AsyncIterator[Record]:
    """The records of ``stream``, counted, failing if their keys do not strictly increase."""
    last: tuple[int, ...] | None = None
    async for record in stream:
        tally.records += 1
        if isinstance(record, RejectedRecord):
            tally.rejected.append(record)
            continue
        key = order(record)
        if last is not None and key <= last:
            raise PagingError(
                f"{object_name} records moved while being paged ({key} came after {last}); "
                "the window will be read again"
            )
        last = key
        yield record


def _recordno(record: Record) -> tuple[int, ...]:
    value = record.get("RECORDNO")
    return (value,) if isinstance(value, int) else (-1,)


def _batch_order(record: Record) -> tuple[int, ...]:
    batch, recordno = record.get("BATCHNO"), record.get("RECORDNO")
    return (
        batch if isinstance(batch, int) else -1,
        recordno if isinstance(recordno, int) else -1,
    )


# The orders the pages of a read must strictly increase in (public for the targeted read).
by_recordno = _recordno
by_batch = _batch_order


async def _batch_groups(lines: AsyncIterator[Record]) -> AsyncIterator[tuple[int, list[GLLine]]]:
    """Consecutive lines of one batch at a time (the query is ordered by batch)."""
    current: int | None = None
    group: list[GLLine] = []
    async for record in lines:
        line = gl_line(record)
        if current is not None and line.batch != current:
            yield current, group
            group = []
        current = line.batch
        group.append(line)
    if current is not None:
        yield current, group


async def read_gl(
    client: IntacctClient,
    first: FirstRound,
    builder: GLSummaryBuilder,
    tally: Tally,
    *,
    wanted: Callable[[GLBatch], bool],
    pagesize: int,
) -> list[tuple[str, datetime]]:
    """Posted batches modified in the window that ``wanted`` accepts, each with all its lines.

    Lines are read by their own WHENMODIFIED in the first round (Intacct saves a batch and its
    lines together, with one stamp); a wanted batch none of whose lines were in that read (its
    header alone was changed) gets its lines in one more request. Returns the versions of
    every batch read, wanted or not.
    """
    versions: list[tuple[str, datetime]] = []
    selected: dict[int, GLBatch] = {}
    query = first.queries["batches"]
    async for record in records(client, query, first.outcomes["batches"], tally, order=_recordno):
        batch = gl_batch(record)
        versions.append((batch.key, batch.whenmodified))
        if batch.posted and wanted(batch):
            selected[batch.recordno] = batch
    waiting = dict(selected)
    entries = records(
        client, first.queries["entries"], first.outcomes["entries"], tally, order=_batch_order
    )
    async for batchno, lines in _batch_groups(entries):
        header = waiting.pop(batchno, None)
        if header is not None and batchno not in tally.rejected_batches():
            builder.add(header, lines)
    keys = sorted(waiting)
    for start in range(0, len(keys), BATCHES_PER_QUERY):
        chunk = keys[start : start + BATCHES_PER_QUERY]
        follow = lines_query(chunk, pagesize)
        stream = increasing(client.query(follow), "GLENTRY", tally, order=_batch_order)
        async for batchno, lines in _batch_groups(stream):
            header = waiting.pop(batchno, None)
            if header is not None and batchno not in tally.rejected_batches():
                builder.add(header, lines)
    for batchno, header in waiting.items():
        if batchno not in tally.rejected_batches():
            builder.add(header, [])
    return versions


@dataclass
class PaymentsRead:
    builder: PaymentSummaryBuilder
    versions: list[tuple[str, datetime]]


async def read_vendors(client: IntacctClient, first: FirstRound, tally: Tally) -> dict[str, Vendor]:
    found: dict[str, Vendor] = {}
    query = first.queries["vendors"]
    async for record in records(client, query, first.outcomes["vendors"], tally, order=_recordno):
        item = vendor(record)
        found[item.vendor_id] = item
    return found


async def read_payments(
    client: IntacctClient,
    first: FirstRound,
    make_builder: Callable[[dict[str, Vendor]], PaymentSummaryBuilder],
    tally: Tally,
    *,
    wanted: Callable[[Payment], bool],
) -> PaymentsRead:
    builder = make_builder(await read_vendors(client, first, tally))
    versions: list[tuple[str, datetime]] = []
    query = first.queries["payments"]
    async for record in records(client, query, first.outcomes["payments"], tally, order=_recordno):
        item = payment(record)
        versions.append((item.key, item.whenmodified))
        if wanted(item):
            builder.add(item)
    return PaymentsRead(builder, versions)


async def read_accounts(client: IntacctClient, first: FirstRound, tally: Tally) -> dict[str, str]:
    """Account number → title of the accounts changed since the cache was refreshed."""
    titles: dict[str, str] = {}
    query = first.queries["accounts"]
    async for record in records(client, query, first.outcomes["accounts"], tally, order=_recordno):
        number, title = record.get("ACCOUNTNO"), record.get("TITLE")
        if isinstance(number, str) and number:
            titles[number] = title if isinstance(title, str) else ""
    return titles
