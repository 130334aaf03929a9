"""Many companies on one cron (#22 item 3): bounded, spread, sharing connections, fair.

A real aiohttp server stands in for a Sage 100 agent (its answers are the agent's wire shape,
with no records), counting the requests in flight and the TCP connections it accepted; the
connector side is the real one — config, ``build_pipelines`` (one client per agent), the
runner and the scheduler — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ml_connector import clock
from ml_connector.config import Config, SchedulingConfig
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.runtime.pipelines import build_pipelines
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.runtime.scheduler import Scheduler
from ml_connector.schedule.configured import configured_schedules
from ml_connector.schedule.jitter import jitter_seconds
from ml_connector.store import companies
from ml_connector.store.tables import outbox, poll_health, runs, schedule_slots
from ml_connector.vault import Vault

SLOT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC).timestamp()
CHANNEL = "C0AAAAAAA"


@dataclass
class FakeAgent:
    """Answers like an agent with no new records; ``slow`` companies answer after ``delay``."""

    delay: float = 0.05
    hang: set[str] = field(default_factory=set)
    in_flight: int = 0
    peak: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    answered: dict[str, float] = field(default_factory=dict)
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def health(self, request: web.Request) -> web.Response:
        return await self._answer(
            request,
            {
                "agent_version": "1",
                "api_version": "1",
                "backend": "fake",
                "companies": [],
                "auth": "api_key",
                "server_time": "2026-11-25T08:00:00",
            },
        )

    async def page(self, request: web.Request) -> web.Response:
        company = request.match_info["company"]
        if company in self.hang:
            await self.released.wait()
        body: dict[str, Any] = {
            "company": company,
            "resource": request.match_info["resource"],
            "records": [],
            "next": None,
            "has_more": False,
        }
        response = await self._answer(request, body)
        self.answered.setdefault(company, time.monotonic())  # the first answer
        return response

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            self.peers.add((peer[0], peer[1]))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return web.json_response(body)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serving(agent: FakeAgent) -> AsyncIterator[FakeAgent]:
    app = web.Application()
    app.router.add_get("/v1/health", agent.health)
    app.router.add_get("/v1/companies/{company}/{resource}", agent.page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    agent.url = f"http://{host}:{port}"
    try:
        yield agent
    finally:
        agent.released.set()
        await runner.cleanup()


def codes(n: int) -> list[str]:
    return [f"C{i:02d}" for i in range(n)]


def config(
    agent_url: str,
    companies_: list[str],
    *,
    streams: tuple[str, ...] = ("ap_invoices",),
    max_concurrent: int = 4,
    **scheduling: Any,
) -> Config:
    connections = {
        f"agent_{c}": {
            "type": "sage100",
            "agent_url": agent_url,
            "company": c,
            "auth": "api_key",
            "api_key": "agent.key",
            "max_concurrent": max_concurrent,
        }
        for c in companies_
    }
    pipelines = {
        f"s_{c}": {
            "type": "sage100",
            "connection": f"agent_{c}",
            "streams": {s: {"channel": CHANNEL} for s in streams},
        }
        for c in companies_
    }
    return Config.model_validate(
        {
            "slack": {"workspaces": {"default": {"bot_token": "slack.bot_token"}}},
            "scheduling": {"jitter_seconds": 0.0, **scheduling},
            "connections": connections,
            "pipelines": pipelines,
        }
    )


@asynccontextmanager
async def scheduler_for(engine: Any, cfg: Config) -> AsyncIterator[Scheduler]:
    vault = Vault.ephemeral(engine)
    await vault.set("agent.key", "k" * 32)
    runner = PipelineRunner(engine, vault, cfg, build_pipelines(cfg, engine, vault), owner="t")
    try:
        yield Scheduler(engine, runner, configured_schedules(cfg), owner="t")
    finally:
        await runner.aclose()


async def statuses(engine: Any) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(runs.c.pipeline, runs.c.status))
        return {pipeline: status for pipeline, status in rows}


# -- jitter ------------------------------------------------------------------------------


@given(
    st.text(min_size=1, max_size=30),
    st.text(max_size=5),
    st.sampled_from([None, "ap_invoices", "gl_postings"]),
    st.floats(min_value=0, max_value=60),
)
def test_jitter_is_stable_and_inside_its_window(
    pipeline: str, company: str, stream: str | None, window: float
) -> None:
    offset = jitter_seconds(pipeline, company, stream, window)
    assert offset == jitter_seconds(pipeline, company, stream, window)
    assert 0 <= offset <= window
    assert window == 0 or offset < window


def test_jitter_spreads_a_thousand_companies_over_the_window() -> None:
    offsets = [jitter_seconds("sage100", f"{i:03d}", "ap_invoices", 30.0) for i in range(1000)]
    per_tenth = [sum(1 for o in offsets if k * 3 <= o < (k + 1) * 3) for k in range(10)]
    assert all(60 <= n <= 140 for n in per_tenth), per_tenth
    # and the streams of one company do not all start together
    assert len({jitter_seconds("sage100", "ABC", s, 30.0) for s in ("a", "b", "c", "d")}) == 4


def test_jitter_window_is_capped_at_a_minute() -> None:
    with pytest.raises(ValueError, match="less than or equal to 60"):
        SchedulingConfig(jitter_seconds=61)
    with pytest.raises(ValueError, match="alert comes before the pause"):
        SchedulingConfig(alert_after=5, pause_after=2)


async def test_polls_start_at_their_own_offset_into_the_slot(engine: Any) -> None:
    async with serving(FakeAgent(delay=0)) as agent:
        cfg = config(agent.url, codes(4), jitter_seconds=1.5)
        async with scheduler_for(engine, cfg) as scheduler:
            started = time.monotonic()
            await scheduler.tick(SLOT)
            await scheduler.drain()
    for company in codes(4):
        expected = jitter_seconds(f"s_{company}", company, "ap_invoices", 1.5)
        # the answer comes two requests (health, page) after the start
        assert expected <= agent.answered[company] - started < expected + 1.0, company


# -- limits and connections -----------------------------------------------------------------


async def test_agent_limit_bounds_polls_and_connections(engine: Any) -> None:
    async with serving(FakeAgent(delay=0.05)) as agent:
        cfg = config(agent.url, codes(12), max_concurrent=3)
        async with scheduler_for(engine, cfg) as scheduler:
            claims = await scheduler.tick(SLOT)
            await scheduler.drain()
    assert len(claims) == 12
    assert set((await statuses(engine)).values()) == {"succeeded"}
    # 12 polls at once were possible; the agent never saw more than its limit
    assert agent.peak == 3
    assert len(agent.peers) <= 3


async def test_one_connection_serves_every_company_and_stream(engine: Any) -> None:
    async with serving(FakeAgent(delay=0.01)) as agent:
        cfg = config(
            agent.url, codes(8), streams=("ap_invoices", "purchase_orders"), max_concurrent=1
        )
        async with scheduler_for(engine, cfg) as scheduler:
            assert len(await scheduler.tick(SLOT)) == 16
            await scheduler.drain()
            assert len(await scheduler.tick(SLOT + 15 * 60)) == 16
            await scheduler.drain()
    assert list((await statuses(engine)).values()).count("succeeded") == 16
    # 32 polls of 8 companies (health + page each): one TCP connection, kept alive
    assert len(agent.peers) == 1
    assert agent.peak == 1


def test_process_limit_is_validated() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        SchedulingConfig(max_concurrent_polls=0)


# -- a dead company ---------------------------------------------------------------------------


async def test_a_dead_company_does_not_delay_the_others(engine: Any) -> None:
    names = codes(7)
    dead = names[0]
    async with serving(FakeAgent(delay=0.02, hang={dead})) as agent:
        cfg = config(agent.url, names, max_concurrent=2, poll_timeout=3.0)
        async with scheduler_for(engine, cfg) as scheduler:
            started = time.monotonic()
            await scheduler.tick(SLOT)
            await scheduler.drain()
            took = time.monotonic() - started
            # the next slot: the dead company backs off and takes no place at the agent
            await scheduler.tick(SLOT + 15 * 60)
            await scheduler.drain()
    live = [agent.answered[c] - started for c in names[1:]]
    # all served while the dead one still hung (each takes ~0.1 s; the margin is for load)
    assert max(live) < 2.5, live
    assert 3.0 <= took < 6.0
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(runs.c.pipeline, runs.c.status, runs.c.error).order_by(runs.c.id)
            )
        ).all()
        slot = await conn.scalar(
            sa.select(schedule_slots.c.reason).where(
                schedule_slots.c.schedule == f"s_{dead}.ap_invoices",
                schedule_slots.c.fire_time == SLOT + 15 * 60,
            )
        )
    dead_runs = [r for r in rows if r.pipeline == f"s_{dead}.ap_invoices"]
    assert len(dead_runs) == 1 and dead_runs[0].status == "failed"
    assert "timed out after 3 s" in dead_runs[0].error
    assert sum(1 for r in rows if r.status == "succeeded") == 12  # 6 live × 2 slots
    assert slot is not None and slot.startswith("not run, backing off after 1 failures")


# -- failing: alert once, pause, resume ------------------------------------------------------


class FailingPipeline:
    def __init__(self, name: str) -> None:
        self.name = name
        self.fail = True
        self.runs = 0

    async def run(self, ctx: RunContext) -> RunOutcome:
        self.runs += 1
        if self.fail:
            return RunOutcome("failed", error="cannot reach the Sage 100 agent: refused")
        return RunOutcome("succeeded")

    async def aclose(self) -> None:
        return None


class SetClock(clock.SystemClock):
    """Time the test sets: each slot's tick happens at its own fire time."""

    def __init__(self) -> None:
        self.at = SLOT

    def now(self) -> float:
        return self.at


@pytest.fixture
def set_clock() -> Iterator[SetClock]:
    fixed = SetClock()
    previous = clock.use(fixed)
    yield fixed
    clock.use(previous)


async def test_alert_once_then_pause_then_resume(engine: Any, set_clock: SetClock) -> None:
    cfg = config(
        "http://127.0.0.1:9",
        ["ABC"],
        alert_after=2,
        pause_after=4,
        backoff_base=1.0,
        backoff_max=1.0,
    )
    pipeline = FailingPipeline("s_ABC")
    vault = Vault.ephemeral(engine)
    runner = PipelineRunner(engine, vault, cfg, {"s_ABC": pipeline}, owner="t")
    scheduler = Scheduler(engine, runner, configured_schedules(cfg), owner="t")

    async def slots(first: int, count: int) -> None:
        for n in range(first, first + count):
            set_clock.at = SLOT + n * 15 * 60 + 1
            await scheduler.tick(set_clock.at)
            await scheduler.drain()

    async def alerts() -> list[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(outbox.c.kind, outbox.c.channel))
            return [kind for kind, channel in rows if channel == CHANNEL]

    await slots(0, 3)
    assert pipeline.runs == 3
    assert await alerts() == ["poll.failing"]  # at the 2nd failure, not again at the 3rd
    await slots(3, 3)
    # paused at the 4th failure: the 5th and 6th slots did not run
    assert pipeline.runs == 4
    assert sorted(await alerts()) == ["poll.failing", "poll.paused"]
    async with engine.begin() as conn:
        pause = await companies.is_paused(conn, "s_ABC", "ABC")
        assert pause is not None and pause.reason == "failing"
        assert "4 failed polls in a row" in (pause.note or "")
        await companies.resume(conn, "s_ABC", "ABC")
    # resumed: it polls again, from zero failures (no new alert until 2 more failures)
    await slots(6, 1)
    assert pipeline.runs == 5
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(poll_health.c.failures)) == 1
    assert sorted(await alerts()) == ["poll.failing", "poll.paused"]
    pipeline.fail = False
    await slots(7, 1)
    assert pipeline.runs == 6
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(poll_health)) == 0
