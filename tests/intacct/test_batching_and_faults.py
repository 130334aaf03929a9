"""Batches, injected faults and the concurrency limit, against the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from ml_connector.errors import PermanentError, RateLimitedError, TransientError
from ml_connector.intacct.gateway import (
    ControlRateLimitedError,
    FunctionPermanentError,
    FunctionTransientError,
    IntacctClient,
    IntacctTransport,
    Query,
    Read,
    ReadByQuery,
    RequestSlots,
    RetryPolicy,
    TransportTransientError,
    equalto,
)
from ml_connector.sim.intacct import IntacctSimulator

from .conftest import credentials_for

if TYPE_CHECKING:
    from .conftest import Process

ACCOUNTS = ReadByQuery("GLACCOUNT", "", ["RECORDNO", "ACCOUNTNO"], pagesize=3)


async def test_five_reads_in_one_request_each_with_its_own_outcome(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    await client.call(ACCOUNTS)  # sign in first, so only the batch is counted below
    vendor = sim.data.records("VENDOR")[0]
    before = sim.requests
    batch = client.batch()
    batches = batch.read_by_query("GLBATCH", "STATE = 'Posted'", fields=["RECORDNO"], pagesize=10)
    payments = batch.query(Query("APPYMT", ["RECORDNO", "TOTALENTERED", "WHENPAID"], pagesize=7))
    vendors = batch.read("VENDOR", [vendor["RECORDNO"]])  # type: ignore[list-item]
    accounts = batch.add(ACCOUNTS)
    broken = batch.add(Query("NOSUCHOBJECT", ["RECORDNO"]))
    outcomes = await batch.send()
    assert sim.requests == before + 1
    assert len(outcomes) == 5
    assert len(batches.result().records) == 10
    assert batches.result().result_id
    assert {type(r["TOTALENTERED"]).__name__ for r in payments.result().records} == {"Decimal"}
    assert vendors.result().records[0]["VENDORID"] == vendor["VENDORID"]
    assert accounts.result().count == 3
    with pytest.raises(FunctionPermanentError) as caught:
        broken.result()
    assert caught.value.function == "query" and caught.value.errors


async def test_injected_function_error_fails_one_function_only(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    await client.call(ACCOUNTS)
    sim.faults.add("function_error", object="VENDOR")
    before = sim.requests
    vendor_read = Query("VENDOR", ["RECORDNO"], filter=equalto("STATUS", "active"))
    ok, failed = await client.execute([ACCOUNTS, vendor_read])
    assert ok.error is None and ok.result is not None
    assert isinstance(failed.error, FunctionPermanentError)
    assert sim.requests == before + 1  # a permanent failure is not retried


# kind -> (error when the fault persists, the base class callers catch)
PERSISTENT = {
    "http_500": (TransportTransientError, TransientError),
    "truncated": (TransportTransientError, TransientError),
    "gw_0010": (ControlRateLimitedError, RateLimitedError),
    "rate_limit_200": (ControlRateLimitedError, RateLimitedError),
    "offline": (FunctionTransientError, TransientError),
}


@pytest.mark.parametrize("kind", sorted(PERSISTENT))
async def test_transient_fault_once_is_retried_away(
    kind: str, sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    await client.call(ACCOUNTS)
    sim.faults.add(kind, count=1)  # type: ignore[arg-type]
    before = sim.requests
    assert (await client.call(ACCOUNTS)).count == 3
    assert sim.requests == before + 2
    assert sim.faults.injected[kind] == 1


@pytest.mark.parametrize("kind", sorted(PERSISTENT))
async def test_persistent_transient_fault_gives_up_after_bounded_attempts(
    kind: str, sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    await client.call(ACCOUNTS)
    sim.faults.add(kind)  # type: ignore[arg-type]
    before = sim.requests
    error_class, base = PERSISTENT[kind]
    with pytest.raises(error_class) as caught:
        await client.call(ACCOUNTS)
    assert isinstance(caught.value, base) and caught.value.transient
    assert sim.requests == before + 4  # FAST_RETRIES.attempts
    if kind == "http_500":
        message = str(caught.value)
        assert "HTTP 500" in message and "Internal Server Error" in message


async def test_slow_answers_are_waited_for(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    await client.call(ACCOUNTS)
    sim.faults.add("slow", count=1, seconds=0.3)
    started = time.monotonic()
    assert (await client.call(ACCOUNTS)).count == 3
    assert time.monotonic() - started >= 0.3


async def test_timeout_is_transient_and_keeps_its_slot(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    process = processes()
    slots = RequestSlots(process.engine)
    transport = IntacctTransport(slots, timeout=0.2)
    client = IntacctClient(
        credentials_for(sim), engine=process.engine, vault=process.vault,
        transport=transport, gateway_url=sim.url, retry=RetryPolicy(attempts=1),
    )  # fmt: skip
    try:
        await client.call(ACCOUNTS)
        sim.faults.add("slow", count=1, seconds=0.5)
        with pytest.raises(TransportTransientError, match="did not answer") as caught:
            await client.call(ACCOUNTS)
        assert caught.value.transient
        # The abandoned request may still run at Intacct: its slot is not free yet.
        company = sim.credentials.company_id
        assert len(await slots.holders(f"intacct:{company}")) == 1
    finally:
        await transport.close()


async def test_a_third_concurrent_request_never_reaches_the_gateway(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    clients = [processes().client(sim) for _ in range(3)]
    await clients[0].call(ACCOUNTS)  # one session, shared through the store
    sim.faults.add("slow", seconds=0.3)
    started = time.monotonic()
    results = await asyncio.gather(*(client.call(ACCOUNTS) for client in clients * 2))
    elapsed = time.monotonic() - started
    assert all(result.count == 3 for result in results)
    assert sim.peak_in_flight == 2
    assert sim.rejected_concurrent == 0
    assert elapsed >= 3 * 0.3  # six requests, two at a time


async def test_one_process_sends_one_request_at_a_time_per_company(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    process = processes()
    clients = [process.client(sim) for _ in range(3)]
    await clients[0].call(ACCOUNTS)
    sim.faults.add("slow", seconds=0.05)
    await asyncio.gather(*(client.call(ACCOUNTS) for client in clients))
    assert sim.peak_in_flight == 1


async def test_errors_say_what_failed_and_whether_to_retry(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    with pytest.raises(FunctionPermanentError) as caught:
        await client.call(Read("VENDOR", ["not-a-number"]))
    error = caught.value
    assert isinstance(error, PermanentError) and not error.transient
    assert error.kind == "permanent" and error.system == "intacct"
    assert error.errors and all(d.description or d.description2 for d in error.errors)
