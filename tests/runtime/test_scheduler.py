"""Three schedulers on separate engines (three processes) fire each slot exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ml_connector.config import Config
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.runtime.scheduler import Scheduler
from ml_connector.schedule.configured import ConfiguredSchedule
from ml_connector.schedule.spec import ScheduleSpec
from ml_connector.vault import Vault


class CountingPipeline:
    name = "counting"

    def __init__(self, runs: Counter[str], owner: str) -> None:
        self.runs = runs
        self.owner = owner

    async def run(self, ctx: RunContext) -> RunOutcome:
        self.runs[f"{ctx.pipeline}:{ctx.trigger}"] += 1
        await asyncio.sleep(0.01)
        return RunOutcome("succeeded", summary=self.owner)

    async def aclose(self) -> None:
        return None


def config() -> Config:
    return Config.model_validate(
        {
            "slack": {"workspaces": {"default": {"bot_token": "slack.bot_token"}}},
            "connections": {
                "ia": {
                    "type": "intacct",
                    "sender_id": "s",
                    "sender_password": "p1",
                    "company_id": "c",
                    "user_id": "u",
                    "user_password": "p2",
                }
            },
            "pipelines": {
                "intacct": {
                    "type": "intacct",
                    "connection": "ia",
                    "channels": {"gl": "C0AAAAAAA", "payments": "C0BBBBBBB", "alerts": "C0CCCCCCC"},
                }
            },
        }
    )


async def test_three_schedulers_fire_each_slot_once(database: Any) -> None:
    runs: Counter[str] = Counter()
    spec = ScheduleSpec(cron="*/5 * * * *", timezone="America/New_York")
    schedules = [ConfiguredSchedule("intacct", "intacct", None, spec)]
    schedulers = []
    for n in range(3):
        engine = database.engine()
        runner = PipelineRunner(
            engine,
            Vault.ephemeral(engine),
            config(),
            {"intacct": CountingPipeline(runs, f"p{n}")},
            owner=f"p{n}",
        )
        schedulers.append(Scheduler(engine, runner, schedules, owner=f"p{n}"))
    start = datetime(2026, 11, 25, 14, 0, 30, tzinfo=UTC).timestamp()
    for minute in range(0, 60):
        now = start + minute * 60
        await asyncio.gather(*(s.tick(now) for s in schedulers))
        await asyncio.gather(*(s.drain() for s in schedulers))
    # 14:00 … 14:55 UTC: twelve five-minute slots, each run exactly once in total
    assert runs == Counter({"intacct:schedule": 12})


async def test_downtime_gives_one_catch_up_run(database: Any) -> None:
    runs: Counter[str] = Counter()
    spec = ScheduleSpec(cron="*/5 * * * *")
    engine = database.engine()
    runner = PipelineRunner(
        engine,
        Vault.ephemeral(engine),
        config(),
        {"intacct": CountingPipeline(runs, "p")},
        owner="p",
    )
    scheduler = Scheduler(
        engine, runner, [ConfiguredSchedule("intacct", "intacct", None, spec)], owner="p"
    )
    start = datetime(2026, 11, 25, 14, 0, 30, tzinfo=UTC).timestamp()
    await scheduler.tick(start)
    await scheduler.drain()
    # down for 52 minutes: ten slots missed
    claims = await scheduler.tick(start + 52 * 60 + 200)
    await scheduler.drain()
    assert [c.coalesced for c in claims] == [10]
    assert runs == Counter({"intacct:schedule": 1, "intacct:catchup": 1})


async def test_a_paused_company_claims_nothing_then_catches_up_once(database: Any) -> None:
    """Per-company schedules: a paused entity's slots are not claimed (its cursor stays);
    once resumed, the slots it missed come back as one catch-up run."""
    from ml_connector.schedule.configured import configured_schedules
    from ml_connector.store import companies

    runs: Counter[str] = Counter()

    class PerCompany(CountingPipeline):
        async def run(self, ctx: RunContext) -> RunOutcome:
            assert ctx.company is not None
            self.runs[f"{ctx.company.code}:{ctx.trigger}"] += 1
            return RunOutcome("succeeded")

    data = config().model_dump(mode="json", exclude={"source", "included"})
    data["connections"]["ia"]["entities"] = ["E1", "E2"]
    data["pipelines"]["intacct"]["schedule"] = {"cron": "*/5 * * * *"}
    entities = Config.model_validate(data)
    engine = database.engine()
    runner = PipelineRunner(
        engine, Vault.ephemeral(engine), entities, {"intacct": PerCompany(runs, "p")}, owner="p"
    )
    schedules = configured_schedules(entities)
    assert [s.name for s in schedules] == ["intacct@E1", "intacct@E2"]
    scheduler = Scheduler(engine, runner, schedules, owner="p")
    start = datetime(2026, 11, 25, 14, 0, 30, tzinfo=UTC).timestamp()
    await scheduler.tick(start)
    await scheduler.drain()
    async with engine.begin() as conn:
        await companies.pause(conn, "intacct", "E2", reason="failing", note="5 failures")
    for minute in range(5, 30, 5):
        await scheduler.tick(start + minute * 60)
        await scheduler.drain()
    assert runs == Counter({"E1:schedule": 6, "E2:schedule": 1})
    async with engine.begin() as conn:
        await companies.resume(conn, "intacct", "E2")
    claims = await scheduler.tick(start + 30 * 60)
    await scheduler.drain()
    assert runs == Counter({"E1:schedule": 7, "E2:schedule": 1, "E2:catchup": 1})
    assert sorted((c.schedule, c.coalesced) for c in claims) == [
        ("intacct@E1", 0),
        ("intacct@E2", 5),
    ]
