"""End-to-end harness: the Intacct gateway simulator → the pipeline → outbox → delivery →
the Slack simulator, on the ``engine`` fixture's database (SQLite, and PostgreSQL when set).

The simulated company's history ends three days ago, so a run's first window (the last
24 hours) holds exactly what a test adds with ``add_day``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.delivery import DeliverySettings, DeliveryWorker
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.intacct.gateway import RetryPolicy
from ml_connector.intacct.pipeline import IntacctPipeline
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault

COMPANY_ZONE = "America/Los_Angeles"
INTERVAL = 0.05
FAST_DELIVERY = DeliverySettings(
    post_interval=INTERVAL,
    backoff_base=0.02,
    backoff_max=0.2,
    max_attempts=30,
    history_interval=0.2,
    reconcile_delay=0.1,
    lease_seconds=5.0,
    idle_poll=0.05,
    probe_interval=0.2,
)
FAST_RETRIES = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
MENTION = "S0PIPE7AB"


def config_for(
    intacct: IntacctSimulator, slack: SlackSimulator, *, name: str = "intacct", **pipeline: Any
) -> Config:
    c = intacct.credentials
    settings: dict[str, Any] = {
        "type": "intacct",
        "connection": "books",
        "timezone": COMPANY_ZONE,
        "channels": {
            "gl": slack.channel_id("gl"),
            "payments": slack.channel_id("payments"),
            "alerts": slack.channel_id("alerts"),
        },
        "mention_group": MENTION,
        "thresholds": {"page_size": 50},
    }
    settings.update(pipeline)
    return Config.model_validate(
        {
            "slack": {"workspaces": {"default": {}}},
            "connections": {
                "books": {
                    "type": "intacct",
                    "gateway_url": intacct.url,
                    "sender_id": c.sender_id,
                    "sender_password": "intacct/sender",
                    "company_id": c.company_id,
                    "user_id": c.user_id,
                    "user_password": "intacct/user",
                }
            },
            "pipelines": {name: settings},
        }
    )


@dataclass
class Harness:
    engine: AsyncEngine
    vault: Vault
    intacct: IntacctSimulator
    slack: SlackSimulator
    config: Config
    pipeline: IntacctPipeline
    runs: int = 0
    outcomes: list[RunOutcome] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(COMPANY_ZONE)

    async def run(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> RunOutcome:
        self.runs += 1
        ctx = RunContext(
            engine=self.engine,
            vault=self.vault,
            config=self.config,
            pipeline=self.pipeline.name,
            run_id=self.runs,
            trigger="manual",
            since=since,
            until=until,
            heartbeat=heartbeat,
        )
        outcome = await self.pipeline.run(ctx)
        self.outcomes.append(outcome)
        return outcome

    async def deliver(self) -> None:
        client = SlackClient(self.slack.bot_token, base_url=self.slack.base_url, timeout=2.0)
        gateway = ClientGateway({"default": client})
        try:
            worker = DeliveryWorker(self.engine, gateway, FAST_DELIVERY)
            assert await worker.run_until_idle(timeout=30)
        finally:
            await gateway.aclose()

    def posted(self, name: str) -> list[dict[str, Any]]:
        return self.slack.messages(self.slack.channel_id(name))

    async def outbox_rows(self) -> list[sa.Row[Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(sa.select(outbox).order_by(outbox.c.id))
            return list(result)


def company_now() -> datetime:
    return datetime.now(ZoneInfo(COMPANY_ZONE)).replace(tzinfo=None, microsecond=0)


def intacct_simulator(seed: int = 11) -> IntacctSimulator:
    return IntacctSimulator(
        seed=seed,
        gl_entries=200,
        vendors=40,
        payments=30,
        bills=12,
        history_days=15,
        as_of=company_now() - timedelta(days=3),
        timezone=COMPANY_ZONE,
    )


def slack_simulator() -> SlackSimulator:
    return SlackSimulator(
        channels=["gl", "payments", "alerts"],
        post_interval=INTERVAL,
        post_burst=1,
        history_interval=0.2,
        history_burst=1,
    )


@pytest.fixture
async def intacct_sim() -> AsyncIterator[IntacctSimulator]:
    async with intacct_simulator() as sim:
        yield sim
    # Strict mode: our client never sends what Intacct would refuse (issue #20).
    assert not sim.refused, f"the Intacct simulator refused: {dict(sim.refused)}"


@pytest.fixture
async def slack_sim() -> AsyncIterator[SlackSimulator]:
    async with slack_simulator() as sim:
        yield sim
    assert not sim.refused, f"the Slack simulator refused: {dict(sim.refused)}"


async def make_harness(
    engine: AsyncEngine,
    intacct: IntacctSimulator,
    slack: SlackSimulator,
    *,
    name: str = "intacct",
    now: Callable[[], datetime] | None = None,
    vault: Vault | None = None,
    **pipeline: Any,
) -> Harness:
    """``vault``: share one between the harnesses of a database, as processes share a key."""
    vault = vault or Vault.ephemeral(engine)
    await vault.set("intacct/sender", intacct.credentials.sender_password)
    await vault.set("intacct/user", intacct.credentials.user_password)
    config = config_for(intacct, slack, name=name, **pipeline)
    options: dict[str, Any] = {"retry": FAST_RETRIES}
    if now is not None:
        options["now"] = now
    return Harness(engine, vault, intacct, slack, config, IntacctPipeline(name, config, **options))


@pytest.fixture
async def harness(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack_sim: SlackSimulator
) -> AsyncIterator[Harness]:
    made = await make_harness(engine, intacct_sim, slack_sim)
    yield made
    await made.pipeline.aclose()


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)
