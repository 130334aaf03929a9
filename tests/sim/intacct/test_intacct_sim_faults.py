"""The concurrency limit and every injectable fault, as a client on the wire sees them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
import pytest

from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from conftest import Caller

READ = (
    '<function controlid="f1"><readByQuery><object>VENDOR</object><fields>VENDORID</fields>'
    "<query></query><pagesize>5</pagesize></readByQuery></function>"
)
PAYMENTS = (
    '<function controlid="p"><readByQuery><object>APPYMT</object><fields>RECORDNO</fields>'
    "<query></query><pagesize>5</pagesize></readByQuery></function>"
)


async def test_third_concurrent_request_gets_429_gw_0010(
    caller: Caller, sim: IntacctSimulator
) -> None:
    sim.faults.add("slow", count=2, seconds=0.3)
    first = asyncio.create_task(caller.call(READ))
    second = asyncio.create_task(caller.call(READ))
    await asyncio.sleep(0.1)
    third = await caller.call(READ)
    assert third.status == 429
    assert third.text("control/status") == "failure"
    assert third.errornos(".") == ["GW-0010"]
    assert (await first).status == 200 and (await second).status == 200
    assert sim.rejected_concurrent == 1
    assert sim.peak_in_flight == 2
    # With the slots free again, the next request runs.
    assert (await caller.call(READ)).status == 200


async def test_concurrency_limit_is_configurable(
    caller_for: Callable[[IntacctSimulator], Caller],
) -> None:
    async with IntacctSimulator(seed=1, gl_entries=10, vendors=12, max_concurrent=1) as sim:
        caller = caller_for(sim)
        sim.faults.add("slow", count=1, seconds=0.3)
        first = asyncio.create_task(caller.call(READ))
        await asyncio.sleep(0.1)
        assert (await caller.call(READ)).status == 429
        assert (await first).status == 200


async def test_http_500_is_an_html_page(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("http_500", count=1)
    answer = await caller.call(READ)
    assert answer.status == 500
    assert answer.content_type == "text/html"
    assert answer.body.lstrip().lower().startswith(b"<!doctype html>")
    assert (await caller.call(READ)).status == 200
    assert sim.faults.injected["http_500"] == 1


async def test_gw_0010_fault_is_the_429_answer(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("gw_0010", count=1)
    answer = await caller.call(READ)
    assert answer.status == 429
    assert answer.errornos(".") == ["GW-0010"]


async def test_offline_fails_every_function_inside_http_200(
    caller: Caller, sim: IntacctSimulator
) -> None:
    sim.faults.add("offline", count=1)
    answer = await caller.call(READ + PAYMENTS)
    assert answer.status == 200
    assert answer.text("control/status") == "success"
    assert answer.text("operation/authentication/status") == "success"
    for result in answer.results():
        assert result.findtext("status") == "failure"
        assert "The Service is Temporarily Off-line" in (
            result.findtext("errormessage/error/description2") or ""
        )


async def test_rate_limit_text_in_http_200(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("rate_limit_200", count=1)
    answer = await caller.call(READ)
    assert answer.status == 200
    assert answer.text("control/status") == "failure"
    assert b"API rate limit exceeded" in answer.body


async def test_slow_answer_is_late_but_right(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("slow", count=1, seconds=0.25)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await caller.call(READ)
    assert loop.time() - started >= 0.25
    assert answer.text("operation/result/status") == "success"


async def test_truncated_body_drops_the_connection(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("truncated", count=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        await caller.call(READ)
    assert sim.faults.injected["truncated"] == 1
    assert (await caller.call(READ)).status == 200


async def test_function_error_hits_one_object_only(caller: Caller, sim: IntacctSimulator) -> None:
    sim.faults.add("function_error", object="APPYMT")
    answer = await caller.call(READ + PAYMENTS)
    statuses = [r.findtext("status") for r in answer.results()]
    assert statuses == ["success", "failure"]
    sim.faults.clear("function_error")
    answer = await caller.call(READ + PAYMENTS)
    assert [r.findtext("status") for r in answer.results()] == ["success", "success"]


async def test_probability_faults_are_seeded(sim: IntacctSimulator) -> None:
    sim.faults.add("http_500", probability=0.5)
    fired = [sim.faults.draw_request() for _ in range(200)]
    assert 60 < fired.count("http_500") < 140


def test_fault_arguments_are_checked(sim: IntacctSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.faults.add("meteor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="object applies only"):
        sim.faults.add("http_500", object="APPYMT")
    with pytest.raises(ValueError, match="probability"):
        sim.faults.add("offline", probability=1.5)
