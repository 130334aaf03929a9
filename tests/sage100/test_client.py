from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp import web

from ml_connector.errors import TransientError
from ml_connector.sage100.agent_client.client import (
    RetryPolicy,
    Sage100Client,
    Sage100LockedError,
    Sage100PermanentError,
    Sage100TransientError,
)
from ml_connector_agent.testing import running_agent

from .agents import client_for


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_record_locked_three_times_then_data(tmp_path: Path) -> None:
    sleeps = Sleeps()
    async with running_agent(tmp_path, lock_attempts=1, retry_after=2) as agent:
        await agent.backend.inject_locks(3)
        async with client_for(agent, sleep=sleeps, rng=lambda: 1.0) as client:
            page = await client.page("ABC", "ap-invoices", limit=3)
    assert len(page.records) == 3
    assert len(sleeps.waits) == 3
    assert all(w >= 2 for w in sleeps.waits)  # Retry-After is a floor


async def test_gives_up_after_the_last_attempt(tmp_path: Path) -> None:
    sleeps = Sleeps()
    async with running_agent(tmp_path, lock_attempts=1) as agent:
        await agent.backend.inject_locks(10)
        async with client_for(agent, sleep=sleeps, retry=RetryPolicy(attempts=4)) as client:
            with pytest.raises(Sage100LockedError) as caught:
                await client.page("ABC", "ap-invoices")
    assert isinstance(caught.value, TransientError)
    assert len(sleeps.waits) == 3


def test_full_jitter_stays_within_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert policy.delay(1, lambda: 1.0) == 0.5
    assert policy.delay(10, lambda: 1.0) == 4
    assert policy.delay(3, lambda: 0.0) == 0


async def _stub(statuses: list[int]) -> tuple[web.AppRunner, str, list[int]]:
    served: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        status = statuses[min(len(served), len(statuses) - 1)]
        served.append(status)
        if status == 200:
            return web.json_response(
                {"company": "ABC", "resource": "gl-accounts", "records": [], "next": None}
            )
        return web.json_response(
            {"error": "x", "message": f"status {status}", "retryable": status >= 500},
            status=status,
        )

    app = web.Application()
    app.router.add_get("/v1/companies/{code}/{resource}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", served


async def test_5xx_is_retried_and_400_is_not() -> None:
    runner, url, served = await _stub([502, 500, 200])
    try:
        async with Sage100Client(url, sleep=Sleeps()) as client:
            page = await client.page("ABC", "gl-accounts")
        assert page.records == [] and served == [502, 500, 200]
    finally:
        await runner.cleanup()
    runner, url, served = await _stub([400])
    try:
        async with Sage100Client(url, sleep=Sleeps()) as client:
            with pytest.raises(Sage100PermanentError, match="status 400"):
                await client.page("ABC", "gl-accounts")
        assert served == [400]
    finally:
        await runner.cleanup()


async def test_agent_down_is_transient_and_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    async with Sage100Client(
        f"http://127.0.0.1:{port}", sleep=sleeps, retry=RetryPolicy(attempts=3)
    ) as client:
        with pytest.raises(Sage100TransientError, match="cannot reach"):
            await client.page("ABC", "gl-accounts")
    assert len(sleeps.waits) == 2


def test_repr_hides_the_api_key() -> None:
    client = Sage100Client("http://127.0.0.1:1", api_key="s100_topsecret")
    assert "topsecret" not in repr(client)


async def test_the_agent_clock_is_read_once_for_companies_starting_together() -> None:
    """Many first polls at once share one /v1/health read; its age comes with it, and an
    older read is taken again."""
    import asyncio

    reads: list[str] = []
    clocks = iter(["2026-12-04T09:00:00", "2026-12-04T09:05:00"])

    async def health(request: web.Request) -> web.Response:
        reads.append(stamp := next(clocks))
        await asyncio.sleep(0.05)  # the others arrive while the first read is out
        return web.json_response({"agent_version": "t", "server_time": stamp})

    app = web.Application()
    app.router.add_get("/v1/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with Sage100Client(url, sleep=Sleeps()) as client:
            answers = await asyncio.gather(*(client.server_time() for _ in range(50)))
            assert reads == ["2026-12-04T09:00:00"]
            assert {stamp for stamp, _ in answers} == {"2026-12-04T09:00:00"}
            assert all(0 <= age < 5 for _, age in answers)
            await asyncio.sleep(0.2)
            stamp, age = await client.server_time()
            assert (stamp, reads) == ("2026-12-04T09:00:00", ["2026-12-04T09:00:00"])
            assert age >= 0.2
            stamp, age = await client.server_time(max_age=0.1)  # too old: read again
            assert stamp == "2026-12-04T09:05:00" and age < 0.1
            assert len(reads) == 2
    finally:
        await runner.cleanup()
