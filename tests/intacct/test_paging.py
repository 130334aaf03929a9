"""Paging 25,000 GLENTRY records: every record once, one page in memory at a time."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest

from ml_connector.intacct.gateway import (
    IntacctClient,
    PagingError,
    Query,
    ReadByQuery,
    Record,
    Result,
    greaterthanorequalto,
)
from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from .conftest import Process

FIELDS = ["RECORDNO", "BATCHNO", "TR_TYPE", "AMOUNT", "ENTRY_DATE", "ACCOUNTNO", "WHENMODIFIED"]


def by_read_more(client: IntacctClient) -> AsyncIterator[Record]:
    return client.read_by_query("GLENTRY", "RECORDNO > 0", fields=FIELDS, pagesize=1000)


def by_offsets(client: IntacctClient) -> AsyncIterator[Record]:
    return client.query(Query("GLENTRY", FIELDS, pagesize=2000))


async def page_through(records: AsyncIterator[Record], seen: bytearray) -> tuple[int, int]:
    """Count records into ``seen`` (one byte per RECORDNO, allocated before tracing) and
    return (records, peak traced bytes while paging)."""
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        async for record in records:
            recordno = record["RECORDNO"]
            assert isinstance(recordno, int)
            seen[recordno] += 1
            count += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


@pytest.mark.parametrize("pager", [by_read_more, by_offsets], ids=["readMore", "offsets"])
async def test_every_record_once_in_memory_independent_of_the_total(
    pager: Callable[[IntacctClient], AsyncIterator[Record]],
    processes: Callable[[], Process],
) -> None:
    peaks = {}
    for total in (5_000, 25_000):
        async with IntacctSimulator(seed=5, gl_entries=total) as sim:
            recordnos = [int(r["RECORDNO"]) for r in sim.data.records("GLENTRY")]  # type: ignore[arg-type]
            seen = bytearray(max(recordnos) + 1)
            client = processes().client(sim)
            await client.call(ReadByQuery("GLACCOUNT", "", ["RECORDNO"], pagesize=1))
            count, peaks[total] = await page_through(pager(client), seen)
            assert count == total
            assert all(seen[n] == 1 for n in recordnos)
            assert sum(seen) == total
    # Five times the records, about the same peak: one page is held, never the whole set.
    # (The simulator shares the heap; its result-set lists add a little per record.)
    assert peaks[25_000] < peaks[5_000] * 1.5, peaks


async def test_a_page_from_a_batch_continues_with_read_more(
    processes: Callable[[], Process],
) -> None:
    async with IntacctSimulator(seed=5, gl_entries=2500) as sim:
        client = processes().client(sim)
        batch = client.batch()
        entries = batch.read_by_query("GLENTRY", "", fields=["RECORDNO"], pagesize=1000)
        recent = Query(
            "GLENTRY", ["RECORDNO"], filter=greaterthanorequalto("RECORDNO", 1), pagesize=700
        )
        first_query = batch.query(recent)
        await batch.send()
        numbers = [r["RECORDNO"] async for r in client.continue_read_by_query(entries.result())]
        assert len(numbers) == len(set(numbers)) == 2500
        queried = [r["RECORDNO"] async for r in client.continue_query(recent, first_query.result())]
        assert sorted(queried) == sorted(numbers)  # type: ignore[type-var]


async def test_a_page_that_does_not_add_up_stops_paging(
    processes: Callable[[], Process],
) -> None:
    async with IntacctSimulator(seed=5, gl_entries=300) as sim:
        client = processes().client(sim)
        first = await client.call(ReadByQuery("GLENTRY", "", ["RECORDNO"], pagesize=100))
        assert first.numremaining == 200
        lying = Result(
            status="success", function="readByQuery", controlid="x", count=first.count,
            numremaining=150, result_id=first.result_id, records=first.records,
        )  # fmt: skip
        with pytest.raises(PagingError, match="lost its place"):
            async for _record in client.continue_read_by_query(lying):
                pass
